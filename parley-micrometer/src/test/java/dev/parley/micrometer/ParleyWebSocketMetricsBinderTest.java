package dev.parley.micrometer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.parley.java.ParleyWebSocket;
import dev.parley.testing.KtorTestServer;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Micrometer binder as a Java user would use it: over a ParleyWebSocket, against a real server on 127.0.0.1. */
class ParleyWebSocketMetricsBinderTest {
    private static final long WAIT_SECONDS = 10;

    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) cleanup.get(i).close();
    }

    private <T extends AutoCloseable> T closeLater(T closeable) {
        cleanup.add(closeable);
        return closeable;
    }

    @Test
    void aBinderBoundBeforeConnectPublishesStateTrafficRoundTripsConnectsAndDisconnects() throws Exception {
        KtorTestServer server = new KtorTestServer(false);
        server.start();
        closeLater(server);
        ParleyWebSocket ws = closeLater(ParleyWebSocket.builder(URI.create(server.url("/ws")))
            .name("java-client")
            .heartbeat(Duration.ofMillis(100), Duration.ofSeconds(2))
            .build());
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        ParleyWebSocketMetricsBinder binder = closeLater(new ParleyWebSocketMetricsBinder(ws, Tags.of("lang", "java")));
        binder.bindTo(registry);

        // Before connect(): a disconnected client with zero counters, every meter there and tagged.
        assertEquals(0.0, gauge(registry, ParleyMetricsBinder.STATE));
        assertEquals(1.0, registry.get(ParleyMetricsBinder.STATE_CURRENT).tag("state", "disconnected").gauge().value());
        assertEquals(1024.0, gauge(registry, ParleyMetricsBinder.SEND_QUEUE_CAPACITY));
        assertEquals(0.0, registry.get(ParleyMetricsBinder.FRAMES_SENT).functionCounter().count());
        assertEquals(0L, registry.get(ParleyMetricsBinder.CONNECT).timer().count());
        for (Meter meter : registry.getMeters()) {
            assertEquals("java-client", meter.getId().getTag("client"), meter.getId().toString());
            assertEquals("java", meter.getId().getTag("lang"), meter.getId().toString());
        }
        assertEquals(ParleyMetricsBinder.DISCONNECT_REASONS.size(),
            registry.find(ParleyMetricsBinder.DISCONNECTS).counters().size());

        ws.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
        assertEquals(2.0, gauge(registry, ParleyMetricsBinder.STATE));
        assertEquals(1.0, registry.get(ParleyMetricsBinder.STATE_CURRENT).tag("state", "connected").gauge().value());

        Timer connect = registry.get(ParleyMetricsBinder.CONNECT).timer();
        awaitTrue(() -> connect.count() == 1, () -> "connect timer count " + connect.count());
        assertTrue(connect.totalTime(TimeUnit.NANOSECONDS) > 0, "a connect takes some time");

        ws.sendText("hello").get(WAIT_SECONDS, TimeUnit.SECONDS);
        awaitTrue(() -> registry.get(ParleyMetricsBinder.FRAMES_RECEIVED).functionCounter().count() >= 1,
            () -> "the echo was not counted");
        assertTrue(registry.get(ParleyMetricsBinder.FRAMES_SENT).functionCounter().count() >= 1);
        assertTrue(registry.get(ParleyMetricsBinder.PAYLOAD_SENT).functionCounter().count() >= 5);
        assertEquals("bytes", registry.get(ParleyMetricsBinder.PAYLOAD_SENT).functionCounter().getId().getBaseUnit());
        assertEquals((double) ws.metrics().bytesSent(),
            registry.get(ParleyMetricsBinder.PAYLOAD_SENT).functionCounter().count());

        Timer rtt = registry.get(ParleyMetricsBinder.RTT).timer();
        awaitTrue(() -> rtt.count() >= 1, () -> "no round trip recorded; the client measured " + ws.metrics().latency().count());
        assertTrue(rtt.totalTime(TimeUnit.NANOSECONDS) > 0);
        assertTrue(rtt.count() <= ws.metrics().latency().count(), "more samples recorded than measured");
        assertEquals(3, rtt.takeSnapshot().percentileValues().length);

        ws.sendText("close:4000:bye").get(WAIT_SECONDS, TimeUnit.SECONDS); // the server closes: CLOSED_BY_PEER
        awaitTrue(() -> disconnects(registry, "closed_by_peer") == 1.0,
            () -> "closed_by_peer count " + disconnects(registry, "closed_by_peer"));
        assertEquals(0.0, gauge(registry, ParleyMetricsBinder.STATE));
        assertEquals(0.0, disconnects(registry, "transport_failed"));

        binder.close();
        assertEquals(List.of(), registry.getMeters());
    }

    @Test
    void closingTheBinderBeforeConnectRemovesTheMetersAndTheClientStillWorks() throws Exception {
        KtorTestServer server = new KtorTestServer(false);
        server.start();
        closeLater(server);
        ParleyWebSocket ws = closeLater(ParleyWebSocket.builder(URI.create(server.url("/ws"))).build());
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (ParleyWebSocketMetricsBinder binder = new ParleyWebSocketMetricsBinder(ws)) {
            binder.bindTo(registry);
            assertTrue(registry.getMeters().size() > 20, "meters: " + registry.getMeters().size());
        }
        assertEquals(List.of(), registry.getMeters());
        ws.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
        ws.sendText("still here").get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    /** What a Java caller sees of the binders mentions no Kotlin-only type (kotlin.*, Continuation). */
    @Test
    void theBindersSpeakPlainJava() {
        List<String> violations = new ArrayList<>();
        for (Class<?> c : List.of(ParleyMetricsBinder.class, ParleyWebSocketMetricsBinder.class)) {
            for (Method m : c.getDeclaredMethods()) {
                if (!Modifier.isPublic(m.getModifiers()) || m.isSynthetic()) continue;
                check(violations, c.getSimpleName() + "." + m.getName(), m.getGenericReturnType());
                for (Type p : m.getGenericParameterTypes()) check(violations, c.getSimpleName() + "." + m.getName(), p);
            }
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (!Modifier.isPublic(k.getModifiers()) || k.isSynthetic()) continue;
                for (Type p : k.getGenericParameterTypes()) check(violations, c.getSimpleName() + ".<init>", p);
            }
        }
        assertEquals(List.of(), violations);
        // Java reads the names as static constants.
        assertEquals("parley.heartbeat.rtt", ParleyMetricsBinder.RTT);
        assertEquals(12, ParleyMetricsBinder.DISCONNECT_REASONS.size());
    }

    private static void check(List<String> violations, String member, Type type) {
        String name = type.getTypeName();
        if (name.contains("kotlin.") || name.contains("Continuation") || name.contains("dev.parley.micrometer.Observed")) {
            violations.add(member + ": " + name);
        }
    }

    private static double gauge(SimpleMeterRegistry registry, String name) {
        return registry.get(name).gauge().value();
    }

    private static double disconnects(SimpleMeterRegistry registry, String reason) {
        return registry.get(ParleyMetricsBinder.DISCONNECTS).tag("reason", reason).counter().count();
    }

    /** Waits, bounded, for a condition another thread makes true. */
    private static void awaitTrue(BooleanSupplier condition, Supplier<String> failure) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) throw new AssertionError(failure.get());
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }
}
