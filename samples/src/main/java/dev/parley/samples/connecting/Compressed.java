package dev.parley.samples.connecting;

import dev.parley.Compression;
import dev.parley.java.ParleyWebSocket;
import java.net.URI;

public final class Compressed {
    public static ParleyWebSocket compressedFeed() {
        return ParleyWebSocket.builder(URI.create("wss://stream.example.com/ws"))
            .compression(Compression.builder() // on by default with Compression's defaults
                .threshold(256)
                .serverNoContextTakeover(true)
                .serverMaxWindowBits(12)
                .build())
            .maxFrameSize(4L * 1024 * 1024) // also bounds inflation
            // or: .noCompression()
            .build();
    }

    private Compressed() {}
}
