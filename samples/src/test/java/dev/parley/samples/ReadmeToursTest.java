package dev.parley.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * README's tours are code a newcomer pastes: they live in this module, where the build compiles them, and this test
 * fails when README's copy drifts from the compiled one.
 */
class ReadmeToursTest {
    private static final Path ROOT = Paths.get("..").toAbsolutePath().normalize();

    @Test
    void theKotlinTourInReadmeIsTheCompiledOne() throws IOException {
        String readme = read(ROOT.resolve("README.md"));
        String compiled = read(ROOT.resolve("samples/src/main/kotlin/dev/parley/samples/tour/KotlinTour.kt"));
        String block = codeBlockAfter(readme, "## A tour in Kotlin", "```kotlin");
        assertEquals(block, compiled.substring(compiled.indexOf('\n', compiled.indexOf("package ")) + 2),
            "README's Kotlin tour differs from samples/.../tour/KotlinTour.kt (which the build compiles): "
                + "change both together");
    }

    @Test
    void theJavaTourInReadmeIsTheCompiledOne() throws IOException {
        String readme = read(ROOT.resolve("README.md"));
        List<String> compiled =
            Files.readAllLines(ROOT.resolve("samples/src/main/java/dev/parley/samples/tour/JavaTour.java"));
        // README shows the imports, then the statements the file compiles inside a method (eight spaces in).
        List<String> expected = new ArrayList<>();
        for (String line : compiled) if (line.startsWith("import ")) expected.add(line);
        expected.add("");
        boolean inside = false;
        for (String line : compiled) {
            if (line.trim().equals("// README:end")) inside = false;
            if (inside) expected.add(line.isEmpty() ? "" : line.substring(8));
            if (line.trim().equals("// README:begin")) inside = true;
        }
        String block = codeBlockAfter(readme, "## A tour in Java", "```java");
        assertEquals(String.join("\n", expected) + "\n", block,
            "README's Java tour differs from samples/.../tour/JavaTour.java (which the build compiles): "
                + "change both together");
    }

    @Test
    void theTestkitExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Testing your code with parley-testkit",
            "samples/src/test/kotlin/dev/parley/samples/testkit/PricesSpec.kt",
            "samples/src/test/java/dev/parley/samples/testkit/PricesTest.java");
    }

    @Test
    void theTlsAndProxyExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## TLS and proxies",
            "samples/src/main/kotlin/dev/parley/samples/connecting/TlsAndProxies.kt",
            "samples/src/main/java/dev/parley/samples/connecting/TlsAndProxies.java");
    }

    @Test
    void theConnectionInfoExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Fresh credentials for every attempt",
            "samples/src/main/kotlin/dev/parley/samples/connecting/FreshCredentials.kt",
            "samples/src/main/java/dev/parley/samples/connecting/FreshCredentials.java");
    }

    @Test
    void theRecoveryExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## What is retried, and when",
            "samples/src/main/kotlin/dev/parley/samples/connecting/Recovering.kt",
            "samples/src/main/java/dev/parley/samples/connecting/Recovering.java");
    }

    @Test
    void theRequestExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Requests with replies",
            "samples/src/main/kotlin/dev/parley/samples/conversation/Requesting.kt",
            "samples/src/main/java/dev/parley/samples/conversation/Requesting.java");
    }

    @Test
    void theSubscriptionExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Subscriptions that survive reconnects",
            "samples/src/main/kotlin/dev/parley/samples/conversation/MarketData.kt",
            "samples/src/main/java/dev/parley/samples/conversation/Subscribing.java");
    }

    @Test
    void theOutboundBufferExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Messages that survive reconnects",
            "samples/src/main/kotlin/dev/parley/samples/conversation/OrderDesk.kt",
            "samples/src/main/java/dev/parley/samples/conversation/Orders.java");
    }

    @Test
    void theAppHeartbeatExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("### Application-level heartbeats",
            "samples/src/main/kotlin/dev/parley/samples/conversation/AppHeartbeats.kt",
            "samples/src/main/java/dev/parley/samples/conversation/AppHeartbeats.java");
    }

    @Test
    void theRateLimitExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Rate limits",
            "samples/src/main/kotlin/dev/parley/samples/operations/RateLimits.kt",
            "samples/src/main/java/dev/parley/samples/operations/RateLimits.java");
    }

    @Test
    void thePoolExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Pools of connections",
            "samples/src/main/kotlin/dev/parley/samples/operations/Pooling.kt",
            "samples/src/main/java/dev/parley/samples/operations/Pooling.java");
    }

    @Test
    void theRecorderExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Recording and replaying sessions",
            "samples/src/main/kotlin/dev/parley/samples/operations/Recorder.kt",
            "samples/src/main/java/dev/parley/samples/operations/Recorder.java");
    }

    @Test
    void theFramePreparationExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Preparing every outgoing frame",
            "samples/src/main/kotlin/dev/parley/samples/conversation/Signing.kt",
            "samples/src/main/java/dev/parley/samples/conversation/Signing.java");
    }

    @Test
    void theCompressionExamplesInReadmeAreTheCompiledOnes() throws IOException {
        assertReadmeShows("## Compression",
            "samples/src/main/kotlin/dev/parley/samples/connecting/Compressed.kt",
            "samples/src/main/java/dev/parley/samples/connecting/Compressed.java");
    }

    /** README's first Kotlin and first Java block after {@code heading} are these files, from the line after {@code package}. */
    private static void assertReadmeShows(String heading, String kotlinFile, String javaFile) throws IOException {
        String readme = read(ROOT.resolve("README.md"));
        assertEquals(afterPackageLine(read(ROOT.resolve(kotlinFile))), codeBlockAfter(readme, heading, "```kotlin"),
            "README's Kotlin example under '" + heading + "' differs from " + kotlinFile + ": change both");
        assertEquals(afterPackageLine(read(ROOT.resolve(javaFile))), codeBlockAfter(readme, heading, "```java"),
            "README's Java example under '" + heading + "' differs from " + javaFile + ": change both");
    }

    private static String afterPackageLine(String source) {
        return source.substring(source.indexOf('\n', source.indexOf("package ")) + 2);
    }

    private static String codeBlockAfter(String text, String heading, String fence) {
        int start = text.indexOf(fence, text.indexOf(heading)) + fence.length() + 1;
        return text.substring(start, text.indexOf("```", start));
    }

    private static String read(Path path) throws IOException {
        return new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
    }
}
