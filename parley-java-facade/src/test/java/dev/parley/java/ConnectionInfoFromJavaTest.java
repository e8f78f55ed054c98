package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.parley.BearerToken;
import dev.parley.ConnectionInfo;
import dev.parley.testkit.UpgradeBehavior;
import dev.parley.testkit.UpgradeRequest;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Connection info per attempt from Java: a function returning a stage, and a bearer token, against the testkit. */
class ConnectionInfoFromJavaTest {
    @Test
    void everyAttemptSendsTheHeadersItsStageGave() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            List<ConnectionAttempt> asked = new CopyOnWriteArrayList<>();
            ParleyWebSocketTest.Recorder recorder = new ParleyWebSocketTest.Recorder();
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url()))
                .reconnect(Duration.ofMillis(10), Duration.ofMillis(20), -1)
                .connectionInfo(attempt -> {
                    asked.add(attempt);
                    // A stage that completes later, as a token service call would.
                    return CompletableFuture.supplyAsync(() ->
                        ConnectionInfo.builder().header("X-Token", "token-" + asked.size()).build());
                })
                .listener(recorder)
                .build();
            try {
                ws.connect().get(5, TimeUnit.SECONDS);
                assertEquals("token-1", server.awaitUpgradeRequest().header("X-Token"));
                server.awaitConnection().dropTcp();
                assertEquals("connect", recorder.next());
                assertEquals("disconnect:TRANSPORT_FAILED", recorder.next());
                assertEquals("connect", recorder.next());
                assertEquals("token-2", server.awaitUpgradeRequest().header("X-Token"));
                assertNull(asked.get(0).lastReason());
                assertEquals(DisconnectInfo.Kind.TRANSPORT_FAILED, asked.get(1).lastReason().kind());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aFailedStageIsConnectionInfoFailedWithItsCause() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            ParleyWebSocketTest.Recorder recorder = new ParleyWebSocketTest.Recorder();
            CompletableFuture<ConnectionInfo> failed = new CompletableFuture<>();
            failed.completeExceptionally(new IllegalStateException("token service down"));
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url()))
                .connectionInfo(attempt -> failed)
                .listener(recorder)
                .build();
            try {
                ws.connect();
                DisconnectInfo info = recorder.nextDisconnect();
                assertEquals(DisconnectInfo.Kind.CONNECTION_INFO_FAILED, info.kind());
                assertInstanceOf(IllegalStateException.class, info.cause());
                assertEquals(0, server.upgradeRequestCount());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aBearerTokenIsFetchedAgainAfterA401() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            server.enqueueUpgrade(UpgradeBehavior.reject(401));
            AtomicInteger fetched = new AtomicInteger();
            BearerToken token = BearerToken.of(Duration.ofSeconds(30), () -> CompletableFuture.completedFuture(
                new BearerToken.Token("t" + fetched.incrementAndGet(), Instant.now().plusSeconds(3600))));
            ParleyWebSocketTest.Recorder recorder = new ParleyWebSocketTest.Recorder();
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url()))
                .reconnect(Duration.ofMillis(10), Duration.ofMillis(20), -1)
                .bearerToken(token)
                .listener(recorder)
                .build();
            try {
                ws.connect();
                DisconnectInfo rejection = recorder.nextDisconnect();
                assertEquals(DisconnectInfo.Kind.HANDSHAKE_REJECTED, rejection.kind());
                UpgradeRequest rejected = server.awaitUpgradeRequest();
                assertEquals("Bearer t1", rejected.header("Authorization"));
                // t1 was fetched for that attempt, so its 401 is fatal: no retry. The next connect() fetches anew.
                assertFalse(rejection.recoverable());
                ws.connect().get(5, TimeUnit.SECONDS);
                assertEquals("Bearer t2", server.awaitUpgradeRequest().header("Authorization"));
                assertEquals(2, fetched.get());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }
}
