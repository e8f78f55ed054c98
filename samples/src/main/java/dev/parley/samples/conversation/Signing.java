package dev.parley.samples.conversation;

import dev.parley.Frame;
import dev.parley.java.ParleyWebSocket;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;

public final class Signing {
    /** Stamps a sequence number on every outgoing text frame: sends, replies and requests alike, each once. */
    public static ParleyWebSocket sequenced() {
        AtomicLong sequence = new AtomicLong();
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws"))
            .prepareFrame(frame -> frame instanceof Frame.Text
                ? new Frame.Text(sequence.incrementAndGet() + " " + ((Frame.Text) frame).getText())
                : frame)
            .build();
    }

    private Signing() {}
}
