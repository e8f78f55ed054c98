package dev.parley.jmh;

import dev.parley.internal.BenchFixture;
import dev.parley.ratelimit.TokenBucketGate;
import java.time.Duration;
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
 * The send path without a network: {@code ParleyClient.send}/{@code trySend} of a 64-byte text frame, through
 * ClientHandle, the send queue and FrameWriter, to a transport whose write and flush only count. One invocation sends
 * {@value #BATCH} frames, so the score is frames per second.
 *
 * <p>{@code gate=token-bucket} puts a {@code TokenBucketGate} on the send path so large that no frame ever waits: the
 * difference to {@code gate=none} is what the rate-limit gate costs (Bucket4j's lock-free bucket, and the hook that
 * refunds a frame that is not written).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class SendPathBenchmark {
    static final int BATCH = 1000;

    /** Whether the client has a rate-limit gate. */
    @Param({"none", "token-bucket"})
    public String gate;

    private BenchFixture fixture;
    private long sent;

    @Setup(Level.Trial)
    public void start() {
        fixture = new BenchFixture();
        // A billion tokens, a billion more a second (Bucket4j's fastest refill): it never makes a sender wait.
        fixture.startClientOverFakeTransport(gate.equals("none")
                ? null
                : TokenBucketGate.create(1_000_000_000L, 1_000_000_000L, Duration.ofSeconds(1)));
    }

    @TearDown(Level.Trial)
    public void stop() {
        fixture.stop();
        // Every frame must have reached the transport, or the score measured something else.
        if (fixture.dataFramesWritten() != sent || fixture.dataBytesWritten() != sent * 64) {
            throw new IllegalStateException(
                    "sent " + sent + " frames but the transport saw " + fixture.dataFramesWritten());
        }
    }

    /** {@code send} one frame after another from one coroutine (Dispatchers.Default); each waits until flushed. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void send() {
        fixture.sendBatch(BATCH);
        sent += BATCH;
    }

    /** {@code trySend} (fire and forget) from the benchmark thread; the invocation ends when the last is flushed. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void trySend() {
        fixture.trySendBatch(BATCH);
        sent += BATCH;
    }
}
