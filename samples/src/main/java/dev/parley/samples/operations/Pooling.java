package dev.parley.samples.operations;

import dev.parley.java.ParleyWebSocket;
import dev.parley.java.ParleyWebSocketPool;
import dev.parley.jsonrpc.JsonRpc;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

public final class Pooling {
    /** Four connections to one exchange; each member has its own request codec and heartbeat. */
    public static ParleyWebSocketPool exchangePool() {
        return ParleyWebSocketPool.start(4, index ->
            ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2"))
                .name("exchange-" + index)
                .heartbeat(Duration.ofSeconds(5), Duration.ofSeconds(10))
                .requests(JsonRpc.codec(), Duration.ofSeconds(5))
                .build());
    }

    /** A request stays on the member it went to; an idempotent send may move to another if its connection drops. */
    public static CompletableFuture<String> quoteAndPing(ParleyWebSocketPool pool) {
        pool.sendText(JsonRpc.request("public/test"), true);
        return pool.request(JsonRpc.request("public/ticker", "{\"instrument\":\"BTC-PERP\"}"));
    }

    private Pooling() {}
}
