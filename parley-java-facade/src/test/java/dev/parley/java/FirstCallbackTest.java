package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The first onConnect can run on the client's thread before connect() has returned: what the listener asks of the
 * socket there must already see the started client. CI once saw state() report "not started" (no response headers)
 * from inside onConnect; each round below is a fresh client, so the window is met as often as the machine allows.
 */
class FirstCallbackTest {
    @Test
    void insideTheFirstOnConnectTheSocketIsConnectedAndCanSend() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            for (int round = 0; round < 20; round++) {
                BlockingQueue<String> seen = new LinkedBlockingQueue<>();
                ParleyWebSocket[] socket = new ParleyWebSocket[1];
                socket[0] = ParleyWebSocket.builder(URI.create(server.url()))
                    .listener(new ParleyListener() {
                        @Override public void onConnect(Reply reply) {
                            ParleyState state = socket[0].state();
                            seen.add(state.kind() + " " + state.responseHeaders().containsKey("upgrade"));
                            socket[0].sendText("hello from onConnect");
                        }

                        @Override public void onText(Reply reply, String text) { seen.add("text:" + text); }
                    })
                    .build();
                try {
                    socket[0].connect();
                    assertEquals("CONNECTED true", seen.poll(5, TimeUnit.SECONDS), "round " + round);
                    assertEquals("text:hello from onConnect", seen.poll(5, TimeUnit.SECONDS), "round " + round);
                } finally {
                    socket[0].stop().get(10, TimeUnit.SECONDS);
                }
            }
        }
    }
}
