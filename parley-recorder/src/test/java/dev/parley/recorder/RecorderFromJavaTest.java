package dev.parley.recorder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.parley.java.ParleyListener;
import dev.parley.java.ParleyWebSocket;
import dev.parley.java.Reply;
import dev.parley.testkit.WebSocketTestServer;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The recorder from Java: a session recorded through the builder's wireTap, read back with its summary, then served
 * from the test kit to a second client, whose listener hears what the first one heard.
 */
class RecorderFromJavaTest {
    /** Keeps the texts its listener is given, in order. */
    private static final class Heard implements ParleyListener {
        final LinkedBlockingQueue<String> texts = new LinkedBlockingQueue<>();

        @Override
        public void onText(Reply reply, String text) {
            texts.add(text);
        }

        String next() throws InterruptedException {
            String text = texts.poll(5, TimeUnit.SECONDS);
            if (text == null) throw new AssertionError("nothing heard within 5 s");
            return text;
        }
    }

    private static List<String> converse(URI uri, ParleyListener listener, FrameRecorder tapOrNull, Heard heard)
            throws Exception {
        ParleyWebSocket.Builder builder = ParleyWebSocket.builder(uri).listener(listener);
        if (tapOrNull != null) builder.wireTap(tapOrNull);
        try (ParleyWebSocket ws = builder.build()) {
            ws.connect().get(5, TimeUnit.SECONDS);
            ws.sendText("{\"op\":\"auth\",\"apiKey\":\"k-secret\"}").get(5, TimeUnit.SECONDS);
            String first = heard.next();
            ws.sendText("{\"op\":\"subscribe\",\"channel\":\"trades\"}").get(5, TimeUnit.SECONDS);
            String second = heard.next();
            ws.disconnect().get(5, TimeUnit.SECONDS);
            return List.of(first, second);
        }
    }

    @Test
    void aRecordedSessionReadsBackAndPlaysToAnotherClientTheSameWay() throws Exception {
        Path file = Files.createTempDirectory("parley-recorder").resolve("java.jsonl");
        List<String> live;
        try (WebSocketTestServer exchange = WebSocketTestServer.builder()
                .onText(text -> text.contains("auth"), text -> "{\"authenticated\":true}")
                .onText(text -> text.contains("subscribe"), text -> "{\"trade\":101.5}")
                .start();
             FrameRecorder recorder = FrameRecorder.create(file, RecorderOptions.builder().maxFiles(2).build())) {
            Heard heard = new Heard();
            live = converse(URI.create(exchange.url()), heard, recorder, heard);
            recorder.close();
            assertEquals(6, recorder.stats().getRecorded()); // two texts each way, and the close frames
        }
        assertEquals(List.of("{\"authenticated\":true}", "{\"trade\":101.5}"), live);

        Recording recording = Recording.readAll(file);
        RecordingSummary summary = recording.getSummary();
        assertEquals(6, summary.getFrames());
        assertEquals(3, summary.getInbound());
        assertEquals(1, summary.getConnections());
        assertEquals(1, summary.getRedacted());
        assertFalse(Files.readString(file).contains("k-secret"));

        try (RecordingServer playback = RecordingServer.start(recording)) {
            Heard heard = new Heard();
            List<String> again = converse(playback.uri(), heard, null, heard);
            assertEquals(live, again);
            PlaybackReport report = playback.awaitPlayed();
            assertTrue(report.getFaithful(), report.toString());
            assertEquals(2, report.getExpected());
        }
    }
}
