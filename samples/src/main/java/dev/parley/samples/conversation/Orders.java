package dev.parley.samples.conversation;

import dev.parley.OutboundBuffer;
import dev.parley.java.ParleyWebSocket;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

public final class Orders {
    /** Up to 100 orders (64 KiB) wait for a connection, none for longer than 5 s. */
    private final OutboundBuffer buffer = OutboundBuffer.create(100, 64 * 1024, Duration.ofSeconds(5));

    public ParleyWebSocket connect() {
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            .layer(buffer)
            .build();
    }

    /** Completes once written; fails with OutboundBufferFullException or FrameExpiredException if it never was. */
    public CompletableFuture<Void> place(String order) {
        return buffer.sendText(order);
    }
}
