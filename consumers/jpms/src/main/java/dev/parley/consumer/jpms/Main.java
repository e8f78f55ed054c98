package dev.parley.consumer.jpms;

import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.Reply;
import dev.parley.testkit.TestConnection;
import dev.parley.testkit.WebSocketTestServer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Run on the module path with nothing but {@code --module-path} (no {@code --add-modules}): it connects, sends,
 * receives the echo and closes with 1000, or exits with a failure. Before Parley's jars carried module descriptors,
 * this failed with NoClassDefFoundError for kotlin.* because no module required the Kotlin standard library.
 */
public final class Main {
    public static void main(String[] args) throws Exception {
        String module = Main.class.getModule().getName();
        if (module == null || ParleyWebSocket.class.getModule().getName() == null) {
            throw new AssertionError("expected to run on the module path, but ran on the class path");
        }
        try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
            CompletableFuture<String> echoed = new CompletableFuture<>();
            try (ParleyWebSocket client = ParleyWebSocket.builder(server.uri())
                    .listener(new ParleyListener() {
                        @Override
                        public void onText(Reply reply, String text) {
                            echoed.complete(text);
                        }
                    })
                    .build()) {
                client.connect().get(10, TimeUnit.SECONDS);
                client.sendText("hello from a named module").get(10, TimeUnit.SECONDS);
                String text = echoed.get(10, TimeUnit.SECONDS);
                if (!text.equals("hello from a named module")) throw new AssertionError("echo was " + text);
                TestConnection peer = server.awaitConnection();
                peer.expectText("hello from a named module");
                client.disconnect(1000, "done").get(10, TimeUnit.SECONDS);
                peer.expectClose(1000);
            }
        }
        System.out.println("Modular consumer: " + ParleyWebSocket.class.getModule() + " connected, echoed and closed");
    }
}
