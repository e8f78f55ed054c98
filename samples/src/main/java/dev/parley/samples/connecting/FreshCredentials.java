package dev.parley.samples.connecting;

import dev.parley.BearerToken;
import dev.parley.ConnectionInfo;
import dev.parley.java.ParleyWebSocket;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;

public final class FreshCredentials {
    public static ParleyWebSocket freshToken(Supplier<CompletionStage<BearerToken.Token>> tokenEndpoint) {
        return ParleyWebSocket.builder(URI.create("wss://api.example.com/ws"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            // Fetched before the first attempt, again when less than 1 minute is left or after a 401.
            .bearerToken(BearerToken.of(Duration.ofMinutes(1), tokenEndpoint))
            .build();
    }

    public static ParleyWebSocket signedUrl(Supplier<CompletionStage<String>> signer) {
        return ParleyWebSocket.builder(URI.create("wss://stream.example.com/ws"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            // Asked before every attempt, inside the connect timeout: a freshly signed URL each time.
            .connectionInfo(attempt -> signer.get().thenApply(url -> ConnectionInfo.builder().url(url).build()))
            .build();
    }

    private FreshCredentials() {}
}
