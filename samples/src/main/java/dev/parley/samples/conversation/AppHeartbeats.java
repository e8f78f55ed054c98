package dev.parley.samples.conversation;

import dev.parley.java.ParleyWebSocket;
import dev.parley.jsonrpc.JsonRpc;
import java.net.URI;
import java.time.Duration;

public final class AppHeartbeats {
    /** Deribit-style: public/test calls as pings, test_request answered by Parley itself. */
    public static ParleyWebSocket deribit() {
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2"))
            .heartbeat(Duration.ofSeconds(10), Duration.ofSeconds(5), JsonRpc.heartbeat("public/test"))
            .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
            .build();
    }

    private AppHeartbeats() {}
}
