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
 * What the rate-limit gate costs per message: {@link SendPathBenchmark}'s send path with and without a
 * {@code TokenBucketGate} so large that no frame ever waits, so the difference is the gate's arithmetic (Bucket4j's
 * lock-free bucket) and the refund hook on each frame's write. Scores are frames per second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class SendGateBenchmark {
    static final int BATCH = 1000;

    /** Whether the client has a gate. */
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
        if (fixture.dataFramesWritten() != sent) {
            throw new IllegalStateException("sent " + sent + " frames but the transport saw " + fixture.dataFramesWritten());
        }
    }

    /** {@code send}, one after another from one coroutine; each waits until flushed. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void send() {
        fixture.sendBatch(BATCH);
        sent += BATCH;
    }

    /** {@code trySend}, fire and forget; the invocation ends when the last is flushed. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void trySend() {
        fixture.trySendBatch(BATCH);
        sent += BATCH;
    }
}
