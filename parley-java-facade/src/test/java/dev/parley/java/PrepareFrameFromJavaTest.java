package dev.parley.java;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.parley.Frame;
import dev.parley.testkit.TestConnection;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Frame preparation from Java: sends and a listener's replies are each prepared once, against the testkit. */
class PrepareFrameFromJavaTest {
    @Test
    void sendsAndRepliesArePreparedOnce() throws Exception {
        try (WebSocketTestServer server = WebSocketTestServer.builder().start()) {
            AtomicInteger prepared = new AtomicInteger();
            ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(server.url()))
                .prepareFrame(frame -> {
                    prepared.incrementAndGet();
                    return frame instanceof Frame.Text ? new Frame.Text("signed:" + ((Frame.Text) frame).getText()) : frame;
                })
                .listener(new ParleyListener() {
                    @Override public void onConnect(Reply reply) { reply.sendText("hello"); }
                })
                .build();
            try {
                ws.connect().get(5, TimeUnit.SECONDS);
                ws.sendText("order").get(5, TimeUnit.SECONDS);
                TestConnection connection = server.awaitConnection();
                connection.expectText("signed:hello");
                connection.expectText("signed:order");
                assertEquals(2, prepared.get());
            } finally {
                ws.stop().get(10, TimeUnit.SECONDS);
            }
        }
    }
}
