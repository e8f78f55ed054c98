package dev.parley.samples;

import dev.parley.java.DisconnectInfo;
import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyState;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.ReconnectDecision;
import dev.parley.java.Reply;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The Java side of the samples: the same conversation through the Java facade. With no argument it talks to its own
 * echo server and restarts that server midway; with a {@code ws://} or {@code wss://} URL it talks to that server.
 */
public final class JavaSample {
    private JavaSample() {}

    public static void main(String[] args) throws Exception {
        // A blank argument counts as none, so `-Dsample.url=` (empty) runs the offline conversation.
        String target = args.length > 0 && !args[0].isBlank() ? args[0] : null;
        EchoServer server = target == null ? new EchoServer().start() : null;
        try {
            converse(target == null ? server.getUrl() : target, server);
        } finally {
            if (server != null) server.close();
        }
    }

    private static void converse(String url, EchoServer server) throws Exception {
        BlockingQueue<String> replies = new LinkedBlockingQueue<>();
        BlockingQueue<ParleyState.Kind> states = new LinkedBlockingQueue<>();
        ParleyListener listener = new ParleyListener() {
            @Override public void onConnect(Reply reply) { say("onConnect: connected"); }

            @Override public void onText(Reply reply, String text) {
                say("onText: server said \"" + text + "\"");
                replies.add(text);
            }

            @Override public ReconnectDecision onDisconnect(DisconnectInfo reason) {
                say("onDisconnect: " + reason.kind() + " (" + reason.message() + ")");
                return ReconnectDecision.DEFAULT;
            }

            @Override public void onStateChange(ParleyState state) {
                say("state: " + state);
                states.add(state.kind());
            }
        };
        say("connecting to " + url);
        try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create(url))
                .name("java-sample")
                .reconnect(Duration.ofMillis(200), Duration.ofSeconds(2), -1)
                .listener(listener)
                .build()) {
            ws.connect().get(10, TimeUnit.SECONDS);
            roundTrip(ws, replies, "hello");
            roundTrip(ws, replies, "how are you?");

            if (server != null) {
                say("-- stopping the server --");
                server.stop();
                awaitState(states, ParleyState.Kind.DISCONNECTED);
                try {
                    ws.sendText("anyone there?").get(5, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    say("send while down failed as documented: " + e.getCause().getMessage());
                }
                say("-- starting the server again on port " + server.getPort() + " --");
                server.start();
                // No connect() call: the client reconnects by itself at its next backoff attempt.
                awaitState(states, ParleyState.Kind.CONNECTED);
                roundTrip(ws, replies, "back again");
            }

            say("disconnect(1000, \"bye\")");
            ws.disconnect(1000, "bye").get(10, TimeUnit.SECONDS);
        }
        say("done");
    }

    private static void roundTrip(ParleyWebSocket ws, BlockingQueue<String> replies, String text) throws Exception {
        say("send \"" + text + "\"");
        CompletableFuture<Void> written = ws.sendText(text);
        written.get(5, TimeUnit.SECONDS);
        if (replies.poll(5, TimeUnit.SECONDS) == null) throw new IllegalStateException("no reply to " + text);
    }

    private static void awaitState(BlockingQueue<ParleyState.Kind> states, ParleyState.Kind wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            ParleyState.Kind kind = states.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (kind == null) throw new IllegalStateException("the client never reached " + wanted);
            if (kind == wanted) return;
        }
    }

    private static void say(String line) {
        System.out.println("[java-sample] " + line);
    }
}
