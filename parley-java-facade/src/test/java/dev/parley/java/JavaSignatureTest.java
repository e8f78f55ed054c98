package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import kotlin.jvm.JvmClassMappingKt;
import kotlin.reflect.KFunction;
import kotlin.reflect.KVisibility;
import kotlin.reflect.jvm.ReflectJvmMapping;
import org.junit.jupiter.api.Test;

/**
 * Every public class and member of the facade speaks plain Java: no kotlin.* type (Unit, Function1, Duration, …), no
 * Continuation (suspend functions), no mangled names (inline classes). Kotlin declarations marked {@code internal}
 * compile to public bytecode but are not API, so they are skipped.
 */
class JavaSignatureTest {
    @Test
    void noPublicSignatureMentionsAKotlinOnlyType() throws Exception {
        List<String> violations = new ArrayList<>();
        List<Class<?>> classes = facadeClasses();
        assertTrue(classes.size() >= 6, "found too few classes: " + classes);
        int checked = 0;
        for (Class<?> c : classes) {
            if (!isApi(c)) continue;
            checked++;
            for (Method m : c.getDeclaredMethods()) {
                if (!Modifier.isPublic(m.getModifiers()) || m.isSynthetic() || !isApiMember(m)) continue;
                check(violations, c, m.getName(), m.getGenericReturnType());
                for (Type p : m.getGenericParameterTypes()) check(violations, c, m.getName(), p);
                if (m.getName().contains("-")) violations.add(c.getName() + "." + m.getName() + ": mangled name");
            }
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (!Modifier.isPublic(k.getModifiers()) || k.isSynthetic()) continue;
                for (Type p : k.getGenericParameterTypes()) check(violations, c, "<init>", p);
            }
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isPublic(f.getModifiers()) && !f.isSynthetic()) check(violations, c, f.getName(), f.getGenericType());
            }
        }
        assertTrue(checked >= 6, "checked too few API classes: " + checked);
        assertEquals(List.of(), violations);
    }

    @Test
    void theCheckCatchesAKotlinOnlyType() {
        List<String> violations = new ArrayList<>();
        check(violations, Object.class, "probe", kotlin.Unit.class);
        check(violations, Object.class, "probe", kotlin.coroutines.Continuation.class);
        assertEquals(2, violations.size());
    }

    private static void check(List<String> violations, Class<?> owner, String member, Type type) {
        String name = type.getTypeName();
        if (name.contains("kotlin.") || name.contains("Continuation") || name.contains("CoroutineScope")) {
            violations.add(owner.getName() + "." + member + ": " + name);
        }
    }

    /** Public in bytecode and, for Kotlin classes, public in Kotlin too. */
    private static boolean isApi(Class<?> c) {
        if (!Modifier.isPublic(c.getModifiers()) || c.isSynthetic()) return false;
        kotlin.Metadata metadata = c.getAnnotation(kotlin.Metadata.class);
        if (metadata == null) return true; // written in Java
        if (metadata.k() != 1) return true; // a file facade: its members are checked one by one
        return JvmClassMappingKt.getKotlinClass(c).getVisibility() == KVisibility.PUBLIC;
    }

    private static boolean isApiMember(Method m) {
        if (m.getDeclaringClass().getAnnotation(kotlin.Metadata.class) == null) return true;
        try {
            KFunction<?> f = ReflectJvmMapping.getKotlinFunction(m);
            return f == null || f.getVisibility() == KVisibility.PUBLIC;
        } catch (UnsupportedOperationException | Error e) {
            return true; // not a Kotlin function (e.g. a property accessor): check it
        }
    }

    private static List<Class<?>> facadeClasses() throws IOException, URISyntaxException, ClassNotFoundException {
        Path root = Paths.get(ParleyWebSocket.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<Class<?>> classes = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String relative = root.relativize(file).toString();
                if (!relative.endsWith(".class") || relative.endsWith("module-info.class")) continue;
                String name = relative.substring(0, relative.length() - ".class".length()).replace('/', '.');
                classes.add(Class.forName(name, false, JavaSignatureTest.class.getClassLoader()));
            }
        }
        return classes;
    }
}
