package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.parley.OutboundBuffer;
import dev.parley.OutboundBufferFullException;
import dev.parley.testkit.TestConnection;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The outbound buffer from Java: frames sent while down wait for the next connection, and a full buffer says so. */
class OutboundBufferFromJavaTest {
    @Test
    void framesSentWhileDisconnectedAreWrittenAfterConnecting() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().start()) {
            OutboundBuffer buffer = OutboundBuffer.create(2, 1 << 16, Duration.ofMinutes(1));
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url())).layer(buffer).build();
            try {
                ws.connect().get(5, TimeUnit.SECONDS);
                server.awaitConnection();
                ws.disconnect().get(5, TimeUnit.SECONDS);
                CompletableFuture<Void> first = buffer.sendText("order 1");
                CompletableFuture<Void> second = buffer.sendText("order 2");
                ExecutionException full =
                    assertThrows(ExecutionException.class, () -> buffer.sendText("order 3").get(5, TimeUnit.SECONDS));
                assertInstanceOf(OutboundBufferFullException.class, full.getCause());
                assertFalse(first.isDone());
                ws.connect().get(5, TimeUnit.SECONDS);
                TestConnection connection = server.awaitConnection();
                connection.expectText("order 1");
                connection.expectText("order 2");
                CompletableFuture.allOf(first, second).get(5, TimeUnit.SECONDS);
                assertEquals(2, buffer.metrics().getDelivered());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }
}
