package dev.parley.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The public API, Kotest's extension apart, names only JDK (and JUnit) types: usable from Java without Kotlin. */
class TestkitSignatureTest {
    private static final List<Class<?>> API = List.of(WebSocketTestServer.class, WebSocketTestServer.Builder.class,
        TestConnection.class, TestMessage.class, TestMessage.Kind.class, UpgradeRequest.class, UpgradeBehavior.class,
        WebSocketFrames.class, WebSocketTestServerExtension.class);

    @Test
    void publicSignaturesUseNoKotlinTypes() {
        List<String> offenders = new ArrayList<>();
        for (Class<?> type : API) {
            for (Method m : type.getDeclaredMethods()) {
                if (!Modifier.isPublic(m.getModifiers()) || m.isSynthetic() || m.getName().contains("$")) continue;
                // Every Kotlin enum gets getEntries(); Java callers have values() as with any enum.
                if (type.isEnum() && m.getName().equals("getEntries")) continue;
                check(type.getSimpleName() + "." + m.getName(), m.getGenericReturnType(), offenders);
                for (Type p : m.getGenericParameterTypes()) check(type.getSimpleName() + "." + m.getName(), p, offenders);
            }
            // Kotlin's internal constructors are public in bytecode; only the extension is meant to be constructed.
            if (type != WebSocketTestServerExtension.class) continue;
            for (Constructor<?> c : type.getDeclaredConstructors()) {
                if (!Modifier.isPublic(c.getModifiers()) || c.isSynthetic()) continue;
                for (Type p : c.getGenericParameterTypes()) check(type.getSimpleName() + ".<init>", p, offenders);
            }
        }
        assertEquals(List.of(), offenders, "public signatures naming Kotlin types");
    }

    private static void check(String where, Type type, List<String> offenders) {
        String name = type.getTypeName();
        if (name.startsWith("kotlin.") || name.contains("<kotlin.") || name.contains(" kotlin.")) {
            offenders.add(where + ": " + name);
        }
    }
}
