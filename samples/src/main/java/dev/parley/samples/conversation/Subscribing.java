package dev.parley.samples.conversation;

import dev.parley.Subscriptions;
import dev.parley.jsonrpc.JsonRpc;
import dev.parley.java.ParleyWebSocket;
import java.net.URI;
import java.time.Duration;

public final class Subscribing {
    public static ParleyWebSocket marketData(Subscriptions<String> subscriptions) {
        // Confirmed, refused or timed out: each change, on the client's thread.
        subscriptions.addListener((channel, state) -> System.out.println(channel + " is " + state));
        subscriptions.subscribe("trades.BTC-PERPETUAL.raw"); // sent once connected, restored after every reconnect
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            .layer(subscriptions)
            .requests(JsonRpc.codec(), Duration.ofSeconds(10))
            .build();
    }

    public static Subscriptions<String> channels() {
        return Subscriptions.create(JsonRpc.subscriptions(), Duration.ofSeconds(10));
    }

    private Subscribing() {}
}
