package dev.parley.ratelimit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.parley.RateLimitedException;
import dev.parley.java.ParleyWebSocket;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A rate limit from Java: the builder's sendGate with a token bucket, against the testkit's server. */
class TokenBucketGateFromJavaTest {
    @Test
    void aSendOverTheLimitFailsWithTheTimeUntilItCouldPass() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().start()) {
            TokenBucketGate gate = TokenBucketGate.create(1, 1, Duration.ofMinutes(1));
            try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url())).sendGate(gate).build()) {
                ws.connect().get(5, TimeUnit.SECONDS);
                ws.sendText("first").get(5, TimeUnit.SECONDS);
                ExecutionException refused =
                    assertThrows(ExecutionException.class, () -> ws.sendText("second").get(5, TimeUnit.SECONDS));
                RateLimitedException limited = assertInstanceOf(RateLimitedException.class, refused.getCause());
                assertEquals(true, limited.getRetryAfterMillis() > 0);
                server.awaitConnection().expectText("first");
                assertEquals(1, gate.metrics().getRefused());
            }
        }
    }
}
