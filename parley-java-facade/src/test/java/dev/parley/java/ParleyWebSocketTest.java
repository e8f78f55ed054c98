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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
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
        java.util.Queue<ParleyEventInfo> infos = new java.util.concurrent.ConcurrentLinkedQueue<>();
        Recorder recorder = new Recorder();
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .heartbeat(Duration.ofMillis(100), Duration.ofSeconds(2))
            .eventListener(event -> {
                infos.add(event);
                events.add(event.kind());
            })
            .listener(recorder));
        assertEquals(0, ws.metrics().framesSent(), "zero metrics before connect()");
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
        // The listener subscribes as the client starts, so it may miss CONNECTED; round trips come every 100 ms.
        ParleyEventInfo answered = infos.stream().filter(e -> e.kind() == ParleyEventInfo.Kind.HEARTBEAT_ANSWERED)
            .findFirst().orElseThrow(() -> new AssertionError("no HEARTBEAT_ANSWERED event: " + infos));
        assertTrue(answered.delay().compareTo(Duration.ZERO) > 0, "round trip " + answered.delay());
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
        IllegalArgumentException pending = assertThrows(IllegalArgumentException.class,
            () -> ParleyWebSocket.builder(URI.create("ws://example.com/")).maxPendingCallbacks(0).build());
        assertTrue(pending.getMessage().contains("maxPendingCallbacks"), pending.getMessage());
        IllegalArgumentException buffered = assertThrows(IllegalArgumentException.class,
            () -> ParleyWebSocket.builder(URI.create("ws://example.com/")).maxBufferedInbound(0).build());
        assertTrue(buffered.getMessage().contains("maxBufferedInboundBytes"), buffered.getMessage());
    }

    /** Waits, bounded, for a condition another thread makes true. */
    private static void awaitTrue(BooleanSupplier condition, String failure) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError(failure);
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
        }
    }

    /** Records states as onStateChange sees them, and waits for STOPPED. */
    static class StateRecorder {
        final BlockingQueue<ParleyState> states = new LinkedBlockingQueue<>();

        ParleyState awaitStopped() throws InterruptedException {
            ParleyState state;
            do {
                state = states.poll(WAIT, TimeUnit.SECONDS);
                if (state == null) throw new AssertionError("the client did not stop");
            } while (state.kind() != ParleyState.Kind.STOPPED);
            return state;
        }
    }

    @Test
    void withTheDefaultExecutorASlowListenerHoldsUpReadingAtOnce() throws Exception {
        // The listener is called on the client's own thread, which the client's reader shares: nothing is pending,
        // and the reader has read at most 17 frames past the blocked one (how many depends on whether it ran before the
        // callback started; read < 0 asks for that bound instead of an exact count).
        slowListenerPushesBack(null, null, 0, -(1 + 17));
    }

    @Test
    void withItsOwnExecutorASlowListenerPushesBackAtMostTheDefaultBoundIsEverPending() throws Exception {
        slowListenerPushesBack(Executors.newSingleThreadExecutor(), null, 256, 256 + 17);
    }

    @Test
    void withItsOwnExecutorASlowListenerPushesBackAtMostTheConfiguredBoundIsEverPending() throws Exception {
        slowListenerPushesBack(Executors.newSingleThreadExecutor(), 4, 4, 4 + 17);
    }

    /**
     * The first onText blocks while the server echoes far more messages than the bound. With an executor of its own,
     * exactly {@code pending} callbacks get handed over and the client stops reading: it reads those, the one the loop
     * waits to hand over, and the 16 its reader may run ahead of the loop, no more ({@code read}). Released, every
     * message arrives once, in order.
     */
    private void slowListenerPushesBack(ExecutorService executor, Integer configured, int pending, int read)
        throws Exception {
        int bound = Math.max(pending, 1);
        int messages = bound * 2 + 50; // far past the bound, yet within the send queue (1024), so sends never wait
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        BlockingQueue<String> texts = new LinkedBlockingQueue<>();
        ParleyWebSocket.Builder builder = ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .listener(new ParleyListener() {
                @Override public void onText(Reply reply, String text) {
                    started.incrementAndGet();
                    try {
                        if (!release.await(2 * WAIT, TimeUnit.SECONDS)) throw new AssertionError("never released");
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    texts.add(text);
                }
            });
        if (configured != null) builder.maxPendingCallbacks(configured);
        if (executor != null) builder.callbackExecutor(executor);
        ParleyWebSocket ws = build(builder);
        try {
            await(ws.connect());
            List<CompletableFuture<Void>> sends = new ArrayList<>();
            for (int i = 0; i < messages; i++) sends.add(ws.sendText("m" + i));
            // With an executor of its own the client writes on while the listener blocks; on the client's own thread
            // (the default) a blocked listener holds up its writer too, so those sends complete once it is released.
            if (executor != null) for (CompletableFuture<Void> send : sends) await(send);
            awaitTrue(() -> ws.metrics().pendingCallbacks() == pending && started.get() > 0,
                "the window never filled: " + ws.metrics().pendingCallbacks() + " pending");
            if (read >= 0) {
                awaitTrue(() -> ws.metrics().framesReceived() == read,
                    "the reader did not stop at the bound: " + ws.metrics().framesReceived() + " read");
            } else {
                // A bounded check of absence: a reader that did not stop would be far past the bound by then.
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(300));
                long got = ws.metrics().framesReceived();
                assertTrue(got >= 1 && got <= -read, "the reader did not stop at the bound: " + got + " read");
            }
            assertEquals(1, started.get(), "only the blocked callback has started");
            assertEquals(pending, ws.metrics().pendingCallbacks(), "more callbacks were pending than the bound");
        } finally {
            release.countDown();
        }
        for (int i = 0; i < messages; i++) assertEquals("m" + i, texts.poll(WAIT, TimeUnit.SECONDS));
        awaitTrue(() -> ws.metrics().pendingCallbacks() == 0, "callbacks still pending");
        assertTrue(texts.isEmpty(), "a message arrived twice: " + texts);
        assertEquals(messages, started.get());
        if (executor != null) {
            ws.close();
            executor.shutdown();
        }
    }

    @Test
    void repliesFromOnTextAreSentInOrder() throws Exception {
        repliesFromOnTextAreSentInOrder(null);
    }

    @Test
    void repliesFromOnTextStayInOrderWhenTheyWaitForRoomInAFullQueue() throws Exception {
        repliesFromOnTextAreSentInOrder(1);
    }

    /** Every onText of an original message replies several frames; the echo server returns them all in order. */
    private void repliesFromOnTextAreSentInOrder(Integer queueCapacity) throws Exception {
        int messages = 300;
        int repliesEach = 4;
        BlockingQueue<String> texts = new LinkedBlockingQueue<>();
        ParleyWebSocket.Builder builder = ParleyWebSocket.builder(URI.create(ktorServer().url("/ws")))
            .listener(new ParleyListener() {
                @Override public void onText(Reply reply, String text) {
                    texts.add(text);
                    if (text.contains("/")) return; // an echoed reply
                    for (int r = 0; r < repliesEach; r++) reply.sendText(text + "/" + r);
                }
            });
        if (queueCapacity != null) builder.sendQueue(queueCapacity, dev.parley.SendOverflow.SUSPEND);
        ParleyWebSocket ws = build(builder);
        await(ws.connect());
        // One at a time: concurrent senders waiting for room in a full queue are not ordered among themselves.
        for (int i = 0; i < messages; i++) await(ws.sendText("m" + i));
        List<String> originals = new ArrayList<>();
        List<String> replies = new ArrayList<>();
        for (int n = 0; n < messages * (1 + repliesEach); n++) {
            String text = texts.poll(WAIT, TimeUnit.SECONDS);
            if (text == null) throw new AssertionError("missing echoes after " + originals.size() + " + " + replies.size());
            (text.contains("/") ? replies : originals).add(text);
        }
        List<String> expectedOriginals = new ArrayList<>();
        List<String> expectedReplies = new ArrayList<>();
        for (int i = 0; i < messages; i++) {
            expectedOriginals.add("m" + i);
            for (int r = 0; r < repliesEach; r++) expectedReplies.add("m" + i + "/" + r);
        }
        assertEquals(expectedOriginals, originals);
        assertEquals(expectedReplies, replies);
    }

    @Test
    void replyStopFromOnTextStopsTheClientWithTheListenersReasonAndSkipsLaterMessages() throws Exception {
        KtorTestServer server = ktorServer();
        StateRecorder states = new StateRecorder();
        List<String> texts = java.util.Collections.synchronizedList(new ArrayList<>());
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(server.url("/ws")))
            .listener(new ParleyListener() {
                @Override public void onText(Reply reply, String text) {
                    texts.add(text);
                    if (text.equals("stop")) {
                        reply.sendText("replaced by the stop");
                        reply.stop("enough");
                    }
                }
                @Override public void onStateChange(ParleyState state) { states.states.add(state); }
            }));
        await(ws.connect());
        for (String text : List.of("a", "b", "stop", "c", "d")) ws.sendText(text);
        ParleyState stopped = states.awaitStopped();
        assertEquals(ParleyState.StopKind.BY_LISTENER, stopped.stopKind());
        assertEquals("enough", stopped.stopReason());
        assertEquals(1000, awaitCloseCode(server));
        // STOPPED reaches onStateChange after every message callback handed over before it: these are all.
        assertEquals(List.of("a", "b", "stop"), texts);
    }

    @Test
    void replyDisconnectFromOnTextClosesWithItsCodeAndKeepsTheClient() throws Exception {
        KtorTestServer server = ktorServer();
        Recorder recorder = new Recorder() {
            @Override public void onText(Reply reply, String text) {
                super.onText(reply, text);
                if (text.equals("bye")) reply.disconnect(4002, "listener-reason");
            }
        };
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(server.url("/ws"))).listener(recorder));
        await(ws.connect());
        ws.sendText("a");
        ws.sendText("bye");
        CompletableFuture<Void> late = ws.sendText("late");
        DisconnectInfo info = recorder.nextDisconnect();
        assertEquals(DisconnectInfo.Kind.BY_LISTENER, info.kind());
        assertEquals(4002, info.closeCode());
        assertEquals("listener-reason", info.listenerReason());
        assertEquals(4002, awaitCloseCode(server));
        // onDisconnect runs after every earlier callback. If "late" went out before our close (its future says), the
        // server echoed it before its close reply, and messages that arrive during the close handshake still reach
        // the listener; if the close overtook it in the queue, it was never sent, and its future says so.
        boolean lateWritten = late.handle((ok, failure) -> failure == null).get(WAIT, TimeUnit.SECONDS);
        List<String> before = new ArrayList<>(recorder.events);
        before.remove("disconnect:BY_LISTENER"); // onDisconnect records it after handing over the info we awaited
        List<String> expected = new ArrayList<>(List.of("connect", "text:a", "text:bye"));
        if (lateWritten) expected.add("text:late");
        assertEquals(expected, before);
        assertEquals(ParleyState.Kind.DISCONNECTED, ws.state().kind());
        await(ws.connect());
        await(ws.sendText("again"));
        awaitTrue(() -> recorder.events.contains("text:again"), "the client did not come back");
    }

    @Test
    void aThrowingMessageCallbackSkipsLaterOnesAndClosesWith1011() throws Exception {
        KtorTestServer server = ktorServer();
        IllegalStateException bug = new IllegalStateException("listener bug");
        StateRecorder states = new StateRecorder();
        List<String> texts = java.util.Collections.synchronizedList(new ArrayList<>());
        ParleyWebSocket ws = build(ParleyWebSocket.builder(URI.create(server.url("/ws")))
            .listener(new ParleyListener() {
                @Override public void onText(Reply reply, String text) {
                    texts.add(text);
                    reply.sendText("reply to " + text);
                    if (text.equals("boom")) throw bug;
                }
                @Override public void onStateChange(ParleyState state) { states.states.add(state); }
            }));
        await(ws.connect());
        for (String text : List.of("ok", "boom", "after-1", "after-2")) ws.sendText(text);
        ParleyState stopped = states.awaitStopped();
        assertEquals(ParleyState.StopKind.LISTENER_FAILED, stopped.stopKind());
        assertSame(bug, stopped.stopCause());
        assertEquals(1011, awaitCloseCode(server));
        // Replies of "ok" may echo back first; nothing after the failure ran.
        assertEquals(List.of("ok", "boom"), texts.stream().filter(t -> !t.startsWith("reply to")).collect(java.util.stream.Collectors.toList()));
    }
}
