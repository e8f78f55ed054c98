package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.parley.ClientStoppedException;
import dev.parley.testing.CloseFrameRecord;
import dev.parley.testing.JettyTestServer;
import dev.parley.testing.KtorTestServer;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Java facade against real servers on 127.0.0.1, written as a Java user would. */
class ParleyWebSocketTest {
    private static final long WAIT = 5;

    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) cleanup.get(i).close();
    }

    /** Records what the listener sees, as strings, so a test can wait for them in order. */
    static class Recorder implements ParleyListener {
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();
        final BlockingQueue<DisconnectInfo> disconnects = new LinkedBlockingQueue<>();

        @Override public void onConnect(Reply reply) { events.add("connect"); }
        @Override public void onText(Reply reply, String text) { events.add("text:" + text); }

        @Override public void onBinary(Reply reply, ByteBuffer data) {
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            events.add("binary:" + new String(bytes, StandardCharsets.UTF_8));
        }

        @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
            disconnects.add(reason);
            events.add("disconnect:" + reason.kind());
            return ReconnectDecision.DEFAULT;
        }

        String next() throws InterruptedException {
            String e = events.poll(WAIT, TimeUnit.SECONDS);
            if (e == null) throw new AssertionError("no listener event within " + WAIT + " s");
            return e;
        }

        DisconnectInfo nextDisconnect() throws InterruptedException {
            DisconnectInfo d = disconnects.poll(WAIT, TimeUnit.SECONDS);
            if (d == null) throw new AssertionError("no onDisconnect within " + WAIT + " s");
            return d;
        }
    }

    private KtorTestServer ktorServer() {
        KtorTestServer server = new KtorTestServer(false);
        server.start();
        cleanup.add(server);
        return server;
    }

    private ParleyWebSocket build(ParleyWebSocket.Builder builder) {
        ParleyWebSocket ws = builder.build();
        cleanup.add(ws);
        return ws;
    }

    private static <T> T await(CompletableFuture<T> future) throws Exception {
        return future.get(WAIT, TimeUnit.SECONDS);
    }

    @Test
    void connectsAndEchoesTextAndBinaryOnBothServers() throws Exception {
        JettyTestServer jetty = new JettyTestServer(false, Duration.ofSeconds(2));
        jetty.start();
        cleanup.add(jetty);
        for (String url : List.of(ktorServer().url("/ws"), jetty.url("/ws"))) {
            Recorder recorder = new Recorder();
            ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(url)).listener(recorder));
            await(ws.connect());
            assertEquals(ParleyState.Kind.CONNECTED, ws.state().kind());
            assertEquals("connect", recorder.next());
            await(ws.sendText("hello"));
            assertEquals("text:hello", recorder.next());
            await(ws.sendBinary("bytes".getBytes(StandardCharsets.UTF_8)));
            assertEquals("binary:bytes", recorder.next());
            ByteBuffer buffer = ByteBuffer.wrap("xbufferx".getBytes(StandardCharsets.UTF_8), 1, 6);
            await(ws.sendBinary(buffer));
            assertEquals(1, buffer.position(), "sendBinary(ByteBuffer) must not move the caller's buffer");
            assertEquals("binary:buffer", recorder.next());
        }
    }

    @Test
    void framesSentWhileConnectingAreDeliveredInOrderAfterTheListenersReply() throws Exception {
        Recorder recorder = new Recorder() {
            @Override public void onConnect(Reply reply) {
                super.onConnect(reply);
                reply.sendText("from onConnect");
            }
        };
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws"))).listener(recorder));
        CompletableFuture<Void> connected = ws.connect();
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        for (int i = 0; i < 5; i++) sends.add(ws.sendText("queued-" + i));
        await(connected);
        for (CompletableFuture<Void> send : sends) await(send);
        assertEquals("connect", recorder.next());
        assertEquals("text:from onConnect", recorder.next());
        for (int i = 0; i < 5; i++) assertEquals("text:queued-" + i, recorder.next());
    }

    @Test
    void theServersCloseCodeAndReasonReachTheListener() throws Exception {
        Recorder recorder = new Recorder();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws"))).listener(recorder));
        await(ws.connect());
        await(ws.sendText("close:4001:bye"));
        DisconnectInfo info = recorder.nextDisconnect();
        assertEquals(DisconnectInfo.Kind.CLOSED_BY_PEER, info.kind());
        assertEquals(4001, info.closeCode());
        assertEquals("bye", info.closeReason());
    }

    @Test
    void reconnectsByItselfAfterTheServerRestartsOnTheSamePort() throws Exception {
        KtorTestServer server = ktorServer();
        Recorder recorder = new Recorder();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(server.url("/ws")))
            .reconnect(Duration.ofMillis(50), Duration.ofMillis(200), -1)
            .listener(recorder));
        await(ws.connect());
        assertEquals("connect", recorder.next());
        server.stop();
        assertTrue(recorder.next().startsWith("disconnect:"));
        server.start();
        String event;
        do {
            event = recorder.next(); // failed attempts while the server was down may come first
        } while (!event.equals("connect"));
        await(ws.sendText("again"));
        assertEquals("text:again", recorder.next());
        assertEquals(2, server.getAcceptedConnections().getSize());
    }

    @Test
    void disconnectSendsItsCodeAndCompletesWhenTheHandshakeEnds() throws Exception {
        KtorTestServer server = ktorServer();
        Recorder recorder = new Recorder();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(server.url("/ws"))).listener(recorder));
        await(ws.connect());
        await(ws.disconnect(4000, "done"));
        assertEquals(ParleyState.Kind.DISCONNECTED, ws.state().kind());
        assertEquals(new CloseFrameRecord(4000, "done"), server.getCloseFrames().getAll().get(0));
        DisconnectInfo info = recorder.nextDisconnect();
        assertEquals(DisconnectInfo.Kind.CLOSED_LOCALLY, info.kind());
        assertTrue(info.acknowledged());
        ExecutionException notConnected = assertThrows(ExecutionException.class, () -> await(ws.sendText("late")));
        assertInstanceOf(dev.parley.NotConnectedException.class, notConnected.getCause());
        assertThrows(IllegalArgumentException.class, () -> ws.disconnect(1005, ""));
    }

    @Test
    void closeStopsTheClientReleasesItsConnectionAndFailsLaterSends() throws Exception {
        KtorTestServer server = ktorServer();
        ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url("/ws"))).build();
        await(ws.connect());
        ws.close();
        assertEquals(ParleyState.Kind.STOPPED, ws.state().kind());
        assertEquals(ParleyState.StopKind.REQUESTED, ws.state().stopKind());
        assertEquals(1001, awaitCloseCode(server));
        ExecutionException stopped = assertThrows(ExecutionException.class, () -> await(ws.sendText("late")));
        assertInstanceOf(ClientStoppedException.class, stopped.getCause());
        ExecutionException reconnect = assertThrows(ExecutionException.class, () -> await(ws.connect()));
        assertInstanceOf(ClientStoppedException.class, reconnect.getCause());
        ws.close(); // idempotent
    }

    /** The server records our close frame on its own thread; wait for it, bounded. */
    private static int awaitCloseCode(KtorTestServer server) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (server.getCloseFrames().getAll().isEmpty()) {
            if (System.nanoTime() > deadline) throw new AssertionError("the server recorded no close frame");
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        return server.getCloseFrames().getAll().get(0).getCode();
    }

    @Test
    void aListenerThatThrowsStopsTheClientWithThatException() throws Exception {
        IllegalStateException bug = new IllegalStateException("listener bug");
        BlockingQueue<ParleyState> states = new LinkedBlockingQueue<>();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .listener(new ParleyListener() {
                @Override public void onText(Reply reply, String text) { throw bug; }
                @Override public void onStateChange(ParleyState state) { states.add(state); }
            }));
        await(ws.connect());
        await(ws.sendText("boom"));
        ParleyState state;
        do {
            state = states.poll(WAIT, TimeUnit.SECONDS);
            if (state == null) throw new AssertionError("the client did not stop");
        } while (state.kind() != ParleyState.Kind.STOPPED);
        assertEquals(ParleyState.StopKind.LISTENER_FAILED, state.stopKind());
        assertSame(bug, state.stopCause());
    }

    @Test
    void callbacksRunOnTheGivenExecutorOneAtATimeAndInOrder() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4, r -> new Thread(r, "app-callbacks"));
        cleanup.add(pool::shutdownNow);
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger maxInFlight = new AtomicInteger();
        BlockingQueue<String> texts = new LinkedBlockingQueue<>();
        List<String> threads = java.util.Collections.synchronizedList(new ArrayList<>());
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .callbackExecutor(pool)
            .listener(new ParleyListener() {
                private void enter() {
                    maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                    threads.add(Thread.currentThread().getName());
                }

                @Override public void onText(Reply reply, String text) {
                    enter();
                    texts.add(text);
                    inFlight.decrementAndGet();
                }

                @Override public void onStateChange(ParleyState state) {
                    enter();
                    inFlight.decrementAndGet();
                }
            }));
        await(ws.connect());
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        for (int i = 0; i < 100; i++) sends.add(ws.sendText("m" + i));
        for (CompletableFuture<Void> send : sends) await(send);
        for (int i = 0; i < 100; i++) assertEquals("m" + i, texts.poll(WAIT, TimeUnit.SECONDS));
        assertEquals(1, maxInFlight.get(), "callbacks overlapped");
        assertTrue(threads.stream().allMatch("app-callbacks"::equals), "a callback ran off the given executor: " + threads);
    }

    @Test
    void heartbeatLatencyMetricsAndEventsAreVisibleFromJava() throws Exception {
        BlockingQueue<ParleyEventInfo.Kind> events = new LinkedBlockingQueue<>();
        Recorder recorder = new Recorder();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .heartbeat(Duration.ofMillis(100), Duration.ofSeconds(2))
            .eventListener(event -> events.add(event.kind()))
            .listener(recorder));
        assertEquals(null, ws.metrics(), "no metrics before connect()");
        await(ws.connect());
        await(ws.sendText("counted"));
        assertEquals("connect", recorder.next());
        assertEquals("text:counted", recorder.next());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (ws.metrics().latency().count() < 2) {
            if (System.nanoTime() > deadline) throw new AssertionError("no heartbeat round trips: " + ws.metrics().latency().count());
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        ConnectionMetrics metrics = ws.metrics();
        assertEquals(ParleyState.Kind.CONNECTED, metrics.state().kind());
        assertTrue(metrics.framesSent() >= 3, "one text and at least two pings: " + metrics.framesSent());
        assertTrue(metrics.latency().p50().compareTo(metrics.latency().max()) <= 0);
        assertEquals(0, metrics.missedPongs());
        await(ws.disconnect());
        ParleyEventInfo.Kind kind;
        do {
            kind = events.poll(WAIT, TimeUnit.SECONDS);
            if (kind == null) throw new AssertionError("no DISCONNECTED event");
        } while (kind != ParleyEventInfo.Kind.DISCONNECTED);
    }

    @Test
    void theBuilderRejectsBadOptionsNamingThem() {
        IllegalArgumentException scheme = assertThrows(IllegalArgumentException.class,
            () -> ParleyWebSocket.builder(URI.create("http://example.com/")).build());
        assertTrue(scheme.getMessage().contains("url"), scheme.getMessage());
        IllegalArgumentException timeout = assertThrows(IllegalArgumentException.class,
            () -> ParleyWebSocket.builder(URI.create("ws://example.com/")).connectTimeout(Duration.ZERO).build());
        assertTrue(timeout.getMessage().contains("connectTimeout"), timeout.getMessage());
        IllegalArgumentException queue = assertThrows(IllegalArgumentException.class,
            () -> ParleyWebSocket.builder(URI.create("ws://example.com/")).sendQueue(0, dev.parley.SendOverflow.FAIL).build());
        assertTrue(queue.getMessage().contains("sendQueueCapacity"), queue.getMessage());
    }
}
