package dev.parley.jsonrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.parley.RequestTimeoutException;
import dev.parley.SubscriptionState;
import dev.parley.Subscriptions;
import dev.parley.java.DisconnectInfo;
import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.ReconnectDecision;
import dev.parley.java.Reply;
import dev.parley.testing.ScriptedWsPeer;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** JSON-RPC requests from Java, through the facade, against npm ws's JSON-RPC server. */
class JsonRpcFromJavaTest {
    private static ScriptedWsPeer peer;

    @BeforeAll
    static void startPeer() { peer = ScriptedWsPeer.Companion.npmWs(false, "{}"); }

    @AfterAll
    static void stopPeer() { peer.close(); }

    /** Records unmatched replies as "id text late". */
    static final class Unmatched implements ParleyListener {
        final BlockingQueue<String> seen = new LinkedBlockingQueue<>();

        @Override
        public void onUnmatchedReply(Reply reply, String id, String text, boolean late) {
            seen.add(id + " " + text + " " + late);
        }
    }

    @Test
    void aRequestCompletesWithItsReplyAndAnErrorIsReadable() throws Exception {
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(peer.url("/jsonrpc")))
                .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                .build()) {
            ws.connect().get(5, TimeUnit.SECONDS);
            String answer = ws.request(JsonRpc.request("echo", "[1,2]")).get(5, TimeUnit.SECONDS);
            assertEquals("[1,2]", JsonRpc.reply(answer).getResult());
            JsonRpcReply error = JsonRpc.reply(ws.request(JsonRpc.request("fail")).get(5, TimeUnit.SECONDS));
            assertTrue(error.isError());
            assertEquals(-32000, error.getErrorCode());
            // Several at once, chained instead of waited for one by one.
            CompletableFuture<?>[] all = new CompletableFuture<?>[50];
            for (int i = 0; i < all.length; i++) {
                all[i] = ws.request(JsonRpc.request("later", "{\"ms\":" + (50 - i) + "}"));
            }
            CompletableFuture.allOf(all).get(10, TimeUnit.SECONDS);
            assertEquals(52, ws.requestStats().answered());
        }
    }

    @Test
    void aReplyAfterTheTimeoutFailsTheRequestAndReachesOnUnmatchedReply() throws Exception {
        Unmatched listener = new Unmatched();
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(peer.url("/jsonrpc")))
                .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                .listener(listener)
                .build()) {
            ws.connect().get(5, TimeUnit.SECONDS);
            CompletableFuture<String> slow = ws.request(JsonRpc.request("later", "{\"ms\":400}"), Duration.ofMillis(100));
            ExecutionException failure = assertThrows(ExecutionException.class, () -> slow.get(5, TimeUnit.SECONDS));
            RequestTimeoutException timeout = assertInstanceOf(RequestTimeoutException.class, failure.getCause());
            assertEquals("1", timeout.getId());
            assertEquals(100, timeout.getTimeoutMillis());
            assertEquals("1 {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ms\":400}} true", listener.seen.poll(5, TimeUnit.SECONDS));
            assertEquals(1, ws.requestStats().timedOut());
        }
    }

    @Test
    void aSubscriptionMadeBeforeConnectingIsConfirmedAndSeenByTheServerOnce() throws Exception {
        Subscriptions<String> subscriptions = Subscriptions.create(JsonRpc.subscriptions(), Duration.ofSeconds(5));
        BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        subscriptions.addListener((key, state) -> changes.add(key + " " + state));
        subscriptions.subscribe("ticker.ETH");
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(peer.url("/jsonrpc")))
                .layer(subscriptions)
                .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                .build()) {
            assertEquals("ticker.ETH Pending", changes.poll(5, TimeUnit.SECONDS));
            ws.connect().get(5, TimeUnit.SECONDS);
            assertEquals("ticker.ETH Confirmed", changes.poll(5, TimeUnit.SECONDS));
            String subscribed = ws.request(JsonRpc.request("public/subscribed")).get(5, TimeUnit.SECONDS);
            assertEquals("[\"ticker.ETH\"]", JsonRpc.reply(subscribed).getResult());
            assertEquals(SubscriptionState.Confirmed.INSTANCE, subscriptions.getStates().getValue().get("ticker.ETH"));
        }
    }

    @Test
    void theAppHeartbeatFindsAStalledServerDead() throws Exception {
        BlockingQueue<DisconnectInfo> disconnects = new LinkedBlockingQueue<>();
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(peer.url("/jsonrpc")))
                .heartbeat(Duration.ofMillis(100), Duration.ofMillis(300), JsonRpc.heartbeat())
                .listener(new ParleyListener() {
                    @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
                        disconnects.add(reason);
                        return ReconnectDecision.STAY_DISCONNECTED;
                    }
                })
                .build()) {
            ws.connect().get(5, TimeUnit.SECONDS);
            ws.sendText("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"stall\"}").get(5, TimeUnit.SECONDS);
            DisconnectInfo dead = disconnects.poll(5, TimeUnit.SECONDS);
            assertEquals(DisconnectInfo.Kind.HEARTBEAT_TIMEOUT, dead.kind());
            assertEquals(1, ws.metrics().consecutiveMissedHeartbeats());
        }
    }

    @Test
    void withoutACodecARequestIsRefusedAtOnce() {
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(peer.url("/jsonrpc"))).build()) {
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> ws.request("{}"));
            assertTrue(refused.getMessage().contains("requests(codec, timeout)"));
            assertFalse(ws.requestStats().answered() > 0);
        }
    }
}
