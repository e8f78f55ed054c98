package dev.parley.samples.operations;

import dev.parley.java.ParleyWebSocket;
import dev.parley.ratelimit.TokenBucketGate;
import java.net.URI;
import java.time.Duration;

public final class RateLimits {
    /** 5 sends at once, 5 more per second; over that a send waits up to 1 s, then fails with RateLimitedException. */
    public static ParleyWebSocket limited() {
        TokenBucketGate limit = TokenBucketGate.create(5, 5, Duration.ofSeconds(1), Duration.ofSeconds(1));
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2"))
            .sendGate(limit)
            .build();
    }

    private RateLimits() {}
}
