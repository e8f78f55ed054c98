package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.parley.ClientStoppedException;
import dev.parley.Frame;
import dev.parley.PoolUnavailableException;
import dev.parley.RequestCodec;
import dev.parley.StampedRequest;
import dev.parley.testkit.TestConnection;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The pool from Java: sends spread over the members, requests answered, and a stopped pool says it is unavailable. */
class PoolFromJavaTest {
    /** Requests are {@code id|body}; the server below answers each with {@code re:} and the request. */
    private static final class PipeCodec implements RequestCodec<String> {
        private final AtomicLong next = new AtomicLong();

        @Override
        public StampedRequest<String> stamp(Frame request) {
            String id = Long.toString(next.incrementAndGet());
            return new StampedRequest<>(id, new Frame.Text(id + "|" + ((Frame.Text) request).getText()));
        }

        @Override
        public String replyId(Frame frame) {
            if (!(frame instanceof Frame.Text)) return null;
            String text = ((Frame.Text) frame).getText();
            return text.startsWith("re:") ? text.substring(3, text.indexOf('|')) : null;
        }
    }

    private static long ticks(List<TestConnection> connections) {
        long ticks = 0;
        for (TestConnection c : connections) {
            ticks += c.messages().stream().filter(m -> m.isText() && m.text().startsWith("tick")).count();
        }
        return ticks;
    }

    @Test
    void sendsAndRequestsGoThroughTheMembersAndAStoppedPoolIsUnavailable() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder()
                .onText(text -> text.contains("|") && !text.startsWith("re:"), text -> "re:" + text)
                .start()) {
            ParleyWebSocketPool pool = ParleyWebSocketPool.start(3, index ->
                ParleyWebSocket.builder(URI.create(server.url()))
                    .name("member-" + index)
                    .requests(new PipeCodec(), Duration.ofSeconds(5))
                    .build());
            try {
                pool.awaitConnected(3).get(5, TimeUnit.SECONDS);
                List<TestConnection> connections = new ArrayList<>();
                for (int i = 0; i < 3; i++) connections.add(server.awaitConnection());
                assertEquals("re:1|hello", pool.request("hello").get(5, TimeUnit.SECONDS));
                for (int i = 0; i < 6; i++) pool.sendText("tick " + i, true).get(5, TimeUnit.SECONDS);
                PoolStats stats = pool.stats();
                assertEquals(6, stats.sent());
                assertEquals(1, stats.requests());
                assertEquals(3, stats.connected());
                // Equally healthy members take turns: 7 routed over 3 members.
                assertEquals(7, stats.members().stream().mapToLong(PoolStats.Member::routed).sum());
                // Written is not yet read: wait (boundedly) until the server has all six, then check none came twice.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (ticks(connections) < 6 && System.nanoTime() < deadline) Thread.sleep(10);
                assertEquals(6, ticks(connections));
            } finally {
                pool.stop().get(10, TimeUnit.SECONDS);
            }
            ExecutionException refused =
                assertThrows(ExecutionException.class, () -> pool.sendText("late").get(5, TimeUnit.SECONDS));
            assertInstanceOf(PoolUnavailableException.class, refused.getCause());
            ExecutionException stopped =
                assertThrows(ExecutionException.class, () -> pool.awaitConnected(1).get(5, TimeUnit.SECONDS));
            assertInstanceOf(ClientStoppedException.class, stopped.getCause());
        }
    }
}
