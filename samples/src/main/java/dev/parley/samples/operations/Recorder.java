package dev.parley.samples.operations;

import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.recorder.FrameRecorder;
import dev.parley.recorder.PlaybackReport;
import dev.parley.recorder.RecorderOptions;
import dev.parley.recorder.Recording;
import dev.parley.recorder.RecordingServer;
import java.net.URI;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

public final class Recorder {
    /** Every frame both ways to session.jsonl, off the client's threads; one more field name treated as a secret. */
    public static FrameRecorder sessionRecorder() {
        return FrameRecorder.create(Path.of("session.jsonl"), RecorderOptions.builder().redactField("listenKey").build());
    }

    public static ParleyWebSocket recordedClient(FrameRecorder recorder) {
        return ParleyWebSocket.builder(URI.create("wss://exchange.example.com/ws/api/v2")).wireTap(recorder).build();
    }

    /** In a test: the recorded session played to a new client with your listener, from a server on 127.0.0.1. */
    public static PlaybackReport replayTo(ParleyListener listener) throws Exception {
        Recording recording = Recording.readAll(Path.of("session.jsonl"));
        System.out.println(recording.getSummary());
        try (RecordingServer server = RecordingServer.start(recording);
             ParleyWebSocket ws = ParleyWebSocket.builder(server.uri()).listener(listener).build()) {
            ws.connect().get(5, TimeUnit.SECONDS);
            return server.awaitPlayed(); // faithful: the client sent what it had sent, in order
        }
    }

    private Recorder() {}
}
