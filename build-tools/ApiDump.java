import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jetbrains.kotlin.abi.tools.AbiFilters;
import org.jetbrains.kotlin.abi.tools.AbiTools;
import org.jetbrains.kotlin.abi.tools.AbiToolsFactory;

/**
 * The public API check of a published module, run by Maven (exec:exec, java in source-file mode) in `verify`.
 *
 * <p>It prints the module's public binary API with Kotlin's own ABI tooling (org.jetbrains.kotlin:abi-tools, the
 * successor of binary-compatibility-validator: it reads Kotlin metadata, so `internal` declarations and synthetic
 * members are left out, as a Kotlin caller sees them) and compares it with the dump committed in the module's `api/`
 * folder. Any difference fails the build with the diff; after a deliberate change, rerun with -Dapi.update=true and
 * commit the new dump with the change.
 *
 * <p>Arguments: classes directory, committed dump, freshly printed dump, "check" or "update".
 */
public final class ApiDump {
    public static void main(String[] args) throws IOException {
        Path classes = Path.of(args[0]);
        Path committed = Path.of(args[1]);
        Path printed = Path.of(args[2]);
        boolean update = Boolean.parseBoolean(args[3]);

        List<File> classFiles;
        try (Stream<Path> files = Files.walk(classes)) {
            classFiles = files.filter(p -> p.toString().endsWith(".class")).sorted().map(Path::toFile)
                    .collect(Collectors.toList());
        }
        AbiTools tools = ServiceLoader.load(AbiToolsFactory.class).findFirst()
                .orElseThrow(() -> new IllegalStateException("abi-tools is not on the classpath")).get();
        StringBuilder dump = new StringBuilder();
        tools.printJvmDump(dump, classFiles, AbiFilters.Companion.getEMPTY());
        Files.createDirectories(printed.getParent());
        Files.writeString(printed, dump, StandardCharsets.UTF_8);

        if (update) {
            Files.createDirectories(committed.getParent());
            Files.writeString(committed, dump, StandardCharsets.UTF_8);
            System.out.println("API dump written to " + committed);
            return;
        }
        if (!Files.exists(committed)) {
            fail("No committed API dump at " + committed + ". Create it with -Dapi.update=true and commit it.");
        }
        if (!Files.readString(committed, StandardCharsets.UTF_8).equals(dump.toString())) {
            fail("The public API differs from " + committed + " (- committed, + now):\n"
                    + tools.filesDiff(committed.toFile(), printed.toFile())
                    + "\nIf the change is deliberate, run with -Dapi.update=true and commit the new dump.");
        }
        System.out.println("Public API matches " + committed);
    }

    private static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }
}
