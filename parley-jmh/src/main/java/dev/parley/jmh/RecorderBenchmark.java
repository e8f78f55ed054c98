package dev.parley.jmh;

import dev.parley.TappedFrame;
import dev.parley.WireDirection;
import dev.parley.internal.BenchFixture;
import dev.parley.recorder.FrameRecorder;
import dev.parley.recorder.RecorderOptions;
import dev.parley.recorder.RecorderStats;
import java.io.OutputStream;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What the recorder costs per message, to a stream that discards what it is given (the disk is not what is measured).
 *
 * <p>{@code sendRecorded}: {@code ParleyClient.send} of 64-byte text frames through a client with a {@code FrameRecorder}
 * as its wire tap ({@code recorder=file-writer}) or none ({@code recorder=none}): the cost on the client's own path.
 * The recorder's buffer is as large as a batch and each batch waits for the writer to catch up, so no frame is dropped
 * and the writer's work (JSON, redaction) is in the score as well.
 *
 * <p>{@code recordOnly}: the recorder alone, fed {@value #BATCH} frames from the benchmark thread, the invocation ending
 * when its thread has written them all: frames per second it can write, with the redaction scan of a JSON text
 * ({@code payload=plain}) or a JSON text holding a secret to take out ({@code payload=secret}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class RecorderBenchmark {
    static final int BATCH = 1000;

    /** Whether the client in {@code sendRecorded} has a recorder. */
    @Param({"none", "file-writer"})
    public String recorder;

    /** The text {@code recordOnly} records. */
    @Param({"plain", "secret"})
    public String payload;

    private BenchFixture fixture;
    private FrameRecorder frames;
    private TappedFrame frame;
    private long shown;

    @Setup(Level.Trial)
    public void start() {
        frames = FrameRecorder.toStream(OutputStream.nullOutputStream(),
                RecorderOptions.builder().maxBufferedFrames(4 * BATCH).build());
        frame = TappedFrame.text(1, WireDirection.OUTBOUND, payload.equals("plain")
                ? "{\"op\":\"tick\",\"seq\":12345,\"px\":101.25,\"qty\":3,\"side\":\"buy\",\"x\":1}"
                : "{\"op\":\"login\",\"seq\":12345,\"apiKey\":\"k-0123456789\",\"sig\":\"ab\"}");
        fixture = new BenchFixture();
        fixture.startClientOverFakeTransport(null, recorder.equals("none") ? null : frames);
    }

    @TearDown(Level.Trial)
    public void stop() {
        fixture.stop();
        frames.close();
        RecorderStats stats = frames.stats();
        if (stats.getDropped() != 0) {
            throw new IllegalStateException("the recorder dropped " + stats.getDropped() + " frames: " + stats);
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void sendRecorded() {
        fixture.sendBatch(BATCH);
        if (!recorder.equals("none")) awaitWritten(BATCH);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void recordOnly() {
        for (int i = 0; i < BATCH; i++) frames.frame(frame);
        awaitWritten(BATCH);
    }

    /** Spins until the recorder's thread has written the [n] frames shown since the last call. */
    private void awaitWritten(int n) {
        shown += n;
        while (frames.stats().getRecorded() + frames.stats().getDropped() < shown) Thread.onSpinWait();
    }
}
