package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.parley.testkit.UpgradeBehavior;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * Error classification from Java, against the testkit's server: DisconnectInfo says whether a reason is recoverable
 * and why, a fatal 401 is not retried, a listener chooses the next delay, and a predicate replaces the policy. Delays
 * are read from the published state, set when the retry is scheduled, so no test waits for a timer.
 */
class RecoveryFromJavaTest {
    private static final long WAIT = 5;

    /** Records each state change, so a test can wait for the one it needs. */
    static class StateRecorder extends ParleyWebSocketTest.Recorder {
        final BlockingQueue<ParleyState> states = new LinkedBlockingQueue<>();

        @Override public void onStateChange(ParleyState state) { states.add(state); }

        /** The first state, from now on, in which onDisconnect has answered. */
        ParleyState decided() throws InterruptedException {
            while (true) {
                ParleyState state = states.poll(WAIT, TimeUnit.SECONDS);
                if (state == null) throw new AssertionError("no decided state within " + WAIT + " s");
                if (state.kind() == ParleyState.Kind.DISCONNECTED && state.lastDisconnect() != null
                    && !state.awaitingDecision()) {
                    return state;
                }
            }
        }
    }

    private static ParleyWebSocket.Builder fastReconnect(WebSocketTestServer server) {
        return ParleyWebSocket.builder(URI.create(server.url()))
            .reconnect(Duration.ofMillis(10), Duration.ofMillis(20), -1);
    }

    @Test
    void a401IsFatalAndExplainedAndConnectTriesAgain() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            server.enqueueUpgrade(UpgradeBehavior.reject(401));
            StateRecorder recorder = new StateRecorder();
            ParleyWebSocket ws = fastReconnect(server).listener(recorder).build();
            try {
                ws.connect();
                DisconnectInfo info = recorder.nextDisconnect();
                assertFalse(info.recoverable());
                assertEquals("the server did not accept the credentials (HTTP 401 Unauthorized)", info.explanation());
                assertNull(recorder.decided().nextAttemptIn());
                assertEquals(1, server.upgradeRequestCount());
                ws.connect().get(WAIT, TimeUnit.SECONDS);
                assertEquals(2, server.upgradeRequestCount());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aRetryAfterIsReportedAndWaitedFor() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            server.enqueueUpgrade(UpgradeBehavior.reject(429).withHeader("Retry-After", "3"));
            StateRecorder recorder = new StateRecorder();
            ParleyWebSocket ws = fastReconnect(server).listener(recorder).build();
            try {
                ws.connect();
                DisconnectInfo info = recorder.nextDisconnect();
                assertTrue(info.recoverable());
                assertEquals(Duration.ofSeconds(3), info.retryAfter());
                assertEquals(Duration.ofSeconds(3), recorder.decided().nextAttemptIn());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void theListenerChoosesTheNextDelay() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            server.enqueueUpgrade(UpgradeBehavior.reject(404));
            StateRecorder recorder = new StateRecorder() {
                @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
                    super.onDisconnect(reason);
                    return ReconnectDecision.reconnectAfter(Duration.ofMillis(150));
                }
            };
            ParleyWebSocket ws = fastReconnect(server).listener(recorder).build();
            try {
                ws.connect();
                // A fatal 404, retried because the listener says so, after the delay it chose.
                assertEquals(Duration.ofMillis(150), recorder.decided().nextAttemptIn());
                assertEquals("disconnect:HANDSHAKE_REJECTED", recorder.next());
                assertEquals("connect", recorder.next());
                assertEquals(2, server.upgradeRequestCount());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aPredicateOfYourOwnRetriesA401() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            server.enqueueUpgrade(UpgradeBehavior.reject(401));
            ParleyWebSocketTest.Recorder recorder = new ParleyWebSocketTest.Recorder();
            Predicate<DisconnectInfo> retry401 = info -> info.httpStatus() == 401 || info.recoverable();
            ParleyWebSocket ws = fastReconnect(server).recoveryPolicy(retry401).listener(recorder).build();
            try {
                ws.connect();
                assertEquals("disconnect:HANDSHAKE_REJECTED", recorder.next());
                assertEquals("connect", recorder.next());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aNegativeDelayIsRefusedAtOnce() {
        assertThrows(IllegalArgumentException.class, () -> ReconnectDecision.reconnectAfter(Duration.ofMillis(-1)));
    }
}
