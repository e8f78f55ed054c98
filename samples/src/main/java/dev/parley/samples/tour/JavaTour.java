package dev.parley.samples.tour;

import dev.parley.java.*;
import java.net.URI;
import java.time.Duration;

/** README's Java tour, compiled: the lines between the markers are README's, indented by eight spaces. */
final class JavaTour {
    private JavaTour() {}

    static void tour(java.util.concurrent.Executor appExecutor) {
        // README:begin
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create("wss://example.com/feed"))
                .header("Authorization", "Bearer …")
                .connectTimeout(Duration.ofSeconds(10))
                .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)   // base, cap, retries (-1: unlimited)
                .callbackExecutor(appExecutor)                                  // optional (default: the client's own thread)
                .listener(new ParleyListener() {                                // every method has a default
                    @Override public void onConnect(Reply reply) { reply.sendText("{\"subscribe\":\"prices\"}"); }
                    @Override public void onText(Reply reply, String text) { System.out.println(text); }
                    @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
                        System.out.println(reason.kind() + " " + reason.closeCode());  // CLOSED_BY_PEER 1001, TRANSPORT_FAILED …
                        return ReconnectDecision.DEFAULT;
                    }
                    @Override public void onStateChange(ParleyState state) { System.out.println(state); }
                })
                .build()) {
            ws.connect().join();                          // completes when connected
            ws.sendText("hello").join();                  // completes when written; fails with the same typed exceptions
            ws.disconnect(1000, "bye").join();            // close handshake; the client stays usable
        }                                                 // close(): stops the client and releases everything
        // README:end
    }
}
