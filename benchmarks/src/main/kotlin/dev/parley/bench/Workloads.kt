package dev.parley.bench

import org.HdrHistogram.Histogram
import java.io.File
import java.lang.management.ManagementFactory
import java.net.URI
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference

/**
 * The workload driver shared by every client: the same code sends, waits and measures, whichever library is behind
 * [BenchClient]. It runs on a plain thread; the libraries deliver echoes on their own threads (or coroutines).
 */
class Workloads(
    private val client: BenchClient,
    private val uri: URI,
    private val p: Params,
) {
    fun run(workload: String): Map<String, Any?> = when (workload) {
        "text" -> pipelined(binary = false)
        "binary" -> pipelined(binary = true)
        "rtt" -> roundTrips()
        "cb-text" -> callbackPipelined(binary = false)
        "cb-binary" -> callbackPipelined(binary = true)
        "cb-rtt" -> callbackRoundTrips()
        "cb-json" -> callbackJson()
        "connect" -> connects()
        "idle" -> idle()
        "reconnect" -> reconnect()
        else -> error("unknown workload '$workload'")
    }

    /** Keeps `window` echoes in flight on one connection: messages/s and MB/s (10^6 bytes of payload echoed). */
    private fun pipelined(binary: Boolean): Map<String, Any?> {
        val size = p.int("size")
        val window = p.int("window")
        val echoes = Echoes(binary, size, window)
        val conn = open(echoes)
        val text = "x".repeat(size)
        // One array per window slot: a slot is reused only after its previous frame came back, so no library ever
        // sees an array change while it may still be writing it.
        val slots = Array(window) { ByteArray(size) { i -> i.toByte() } }
        val send: (Long) -> Unit =
            if (binary) {
                { i -> conn.sendBinary(slots[(i % window).toInt()]) }
            } else {
                { _ -> conn.sendText(text) }
            }
        echoes.pump(send, p.long("warmupCount"), p.long("warmupMs"))
        val cpuBefore = processCpuNanos()
        val (sent, nanos) = echoes.pump(send, p.long("count"), p.long("durationMs"))
        val cpuNanos = processCpuNanos() - cpuBefore
        echoes.check()
        return throughputFigures(sent, nanos, size, cpuNanos)
    }

    /** Sends a 64-byte text, waits for its echo, repeats: round-trip latency percentiles. */
    private fun roundTrips(): Map<String, Any?> {
        val echoes = Echoes(false, p.int("size"), 1)
        val conn = open(echoes)
        val text = "x".repeat(p.int("size"))
        val histogram = Histogram(TimeUnit.SECONDS.toNanos(30), 3)
        echoes.roundTrips(conn, text, p.long("warmupCount"), p.long("warmupMs"), null)
        val count = echoes.roundTrips(conn, text, p.long("count"), p.long("durationMs"), histogram)
        echoes.check()
        return latencyFigures(count, histogram)
    }

    /** As [pipelined], but each send is made from the library's receive callback (see [CallbackEchoes]). */
    private fun callbackPipelined(
        binary: Boolean,
        texts: List<String> = listOf("x".repeat(p.int("size"))),
    ): Map<String, Any?> {
        val size = p.int("size")
        val echoes = CallbackEchoes(binary, size, p.int("window"), texts)
        val conn = respond(echoes)
        echoes.run(conn, p.long("warmupCount"), p.long("warmupMs"), null)
        val cpuBefore = processCpuNanos()
        val (sent, nanos) = echoes.run(conn, p.long("count"), p.long("durationMs"), null)
        val cpuNanos = processCpuNanos() - cpuBefore
        echoes.check()
        return throughputFigures(sent, nanos, size, cpuNanos)
    }

    /**
     * Callback-driven echo of market-data JSON ([JsonMessages]): first a fixed count through a byte-counting relay
     * ([WireCounter]), for the bytes each message takes on the wire each way (frame headers and, where agreed,
     * permessage-deflate included; the relay's own hop makes that pass slower, so it is not timed), then the timed
     * run straight to the server. The server compresses only on `/echo-deflate`, and only for a client that offers it.
     */
    private fun callbackJson(): Map<String, Any?> {
        val size = p.int("size")
        val texts = JsonMessages.make(size)
        val wire = WireCounter(uri.port).use { relay ->
            val echoes = CallbackEchoes(false, size, p.int("window"), texts)
            val relayed = URI(uri.scheme, null, uri.host, relay.port, uri.path, null, null)
            val conn = opened { client.respond(relayed, echoes) }
            val (sent, _) = echoes.run(conn, WIRE_MESSAGES, Long.MAX_VALUE, null)
            echoes.check()
            conn.close()
            // The upgrade's bytes are counted too; over this many messages they are a fraction of a byte each.
            mapOf(
                "wireBytesUpPerMsg" to relay.up.get().toDouble() / sent,
                "wireBytesDownPerMsg" to relay.down.get().toDouble() / sent,
                "wireRatio" to (relay.up.get() + relay.down.get()).toDouble() / (2.0 * sent * size),
            )
        }
        return callbackPipelined(binary = false, texts) + wire
    }

    /** As [roundTrips], but each next message is sent from the callback that received the previous echo. */
    private fun callbackRoundTrips(): Map<String, Any?> {
        val echoes = CallbackEchoes(false, p.int("size"), 1)
        val conn = respond(echoes)
        val histogram = Histogram(TimeUnit.SECONDS.toNanos(30), 3)
        echoes.run(conn, p.long("warmupCount"), p.long("warmupMs"), null)
        val switchesBefore = contextSwitches()
        val cpuBefore = processCpuNanos()
        val (count, _) = echoes.run(conn, p.long("count"), p.long("durationMs"), histogram)
        val cpuNanos = processCpuNanos() - cpuBefore
        val switches = contextSwitches() - switchesBefore
        echoes.check()
        return latencyFigures(count, histogram) +
            mapOf(
                // Where a round trip's time goes besides the network: how often the client's threads were switched
                // out (a hand-off between threads costs a switch, plus a wake-up) and the CPU it spent.
                "contextSwitchesPerRoundTrip" to switches.toDouble() / count,
                "cpuUsPerRoundTrip" to cpuNanos / 1e3 / count,
            )
    }

    /** Opens and closes connections one after another; only the open (TCP connect + upgrade) is timed. */
    private fun connects(): Map<String, Any?> {
        repeat(p.int("warmupCount")) { open(Inbound { _, _ -> }).close() }
        val histogram = Histogram(TimeUnit.SECONDS.toNanos(30), 3)
        repeat(p.int("count")) {
            val start = System.nanoTime()
            val conn = open(Inbound { _, _ -> })
            histogram.recordValue(System.nanoTime() - start)
            conn.close()
        }
        fun ms(q: Double) = histogram.getValueAtPercentile(q) / 1e6
        return mapOf(
            "connects" to histogram.totalCount,
            "p50Ms" to ms(50.0),
            "p99Ms" to ms(99.0),
            "maxMs" to histogram.maxValue / 1e6,
        )
    }

    /**
     * Opens `connections` connections (at most `concurrency` opening at once) and keeps them idle; reports what each
     * costs: heap after GC, process RSS and live threads, all relative to a baseline taken before opening (after one
     * throwaway connection, so that the library's one-time setup is not charged to the connections).
     */
    private fun idle(): Map<String, Any?> {
        val target = p.int("connections")
        val maxThreads = p.int("maxThreads")
        val fdLimit = Footprint.openFilesLimit()
        require(fdLimit < 0 || fdLimit > target + 500) {
            "open-files limit $fdLimit is too low for $target connections: raise it (ulimit -n)"
        }
        val received = AtomicLong()
        val inbound = Inbound { _, _ -> received.incrementAndGet() }
        open(inbound).apply {
            sendText("warm")
            awaitCount(received, 1)
            close()
        }
        val before = Footprint.take()
        val conns = ConcurrentLinkedQueue<Conn>()
        val failure = AtomicReference<Throwable>()
        val failures = AtomicInteger()
        val opening = Semaphore(p.int("concurrency"))
        val threads = ManagementFactory.getThreadMXBean()
        var stoppedBy: String? = null
        val start = System.nanoTime()
        var started = 0
        while (started < target) {
            if (threads.threadCount > maxThreads) {
                stoppedBy = "thread budget: over $maxThreads live threads after ${conns.size} connections"
                break
            }
            if (failures.get() > 0) break
            check(opening.tryAcquire(60, TimeUnit.SECONDS)) { "connects stalled for 60 s" }
            started++
            client.connect(uri, inbound).whenComplete { conn, e ->
                if (conn != null) {
                    conns.add(conn)
                } else {
                    failure.compareAndSet(null, e)
                    failures.incrementAndGet()
                }
                opening.release()
            }
        }
        check(opening.tryAcquire(p.int("concurrency"), 120, TimeUnit.SECONDS)) { "connects stalled for 120 s" }
        val openSeconds = (System.nanoTime() - start) / 1e9
        Thread.sleep(p.long("settleMs")) // let connect-time garbage and transient threads go before measuring
        val after = Footprint.take()
        val n = conns.size
        check(n > 0) { "no connection opened: ${failure.get()}" }
        // The connections must still be alive: an echo on a sample of them, spread over the whole set. A connection
        // that does not answer is reported, and the figures are kept: they were measured over connections that opened.
        val sample = conns.toList().let { all -> all.indices.step(maxOf(1, all.size / 20)).map { all[it] } }
        val echoedBefore = received.get()
        sample.forEach { it.sendText("still there?") }
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        while (received.get() < echoedBefore + sample.size && System.nanoTime() < deadline) Thread.sleep(1)
        val silent = sample.size - (received.get() - echoedBefore).toInt()
        val error =
            listOfNotNull(
                failure.get()?.let { "${failures.get()} connects failed; first: $it" },
                stoppedBy,
                if (silent > 0) "$silent of ${sample.size} sampled connections did not echo within 10 s" else null,
            ).joinToString("; ").ifEmpty { null }
        return mapOf(
            "ok" to (error == null),
            "error" to error,
            "connections" to n,
            "target" to target,
            "openSeconds" to openSeconds,
            "heapKiBPerConn" to (after.heapBytes - before.heapBytes) / 1024.0 / n,
            "rssKiBPerConn" to (after.rssKiB - before.rssKiB).toDouble() / n,
            "threads" to after.threads - before.threads,
            "threadsPerConn" to (after.threads - before.threads).toDouble() / n,
            "heapBytesBaseline" to before.heapBytes,
            "rssKiBBaseline" to before.rssKiB,
            "openFilesLimit" to fdLimit,
        )
    }

    /**
     * Reconnect after a server restart (clients with automatic reconnection only). The harness drives it through
     * stdin/stdout: we print `READY` once connected, `DOWN` when the connection is lost; the harness restarts the
     * server and writes `UP <epoch µs>` (when the new server started listening); we answer `RECONNECTED <µs>`, the time
     * from then until the client was connected again. `DONE` ends it.
     */
    private fun reconnect(): Map<String, Any?> {
        val reconnecting = client as? ReconnectingClient ?: error("this client does not reconnect by itself")
        val connectedAt = LinkedBlockingQueue<Long>()
        val up = AtomicBoolean(false)
        val handle =
            reconnecting.startReconnecting(uri, p.long("backoffMs"), {
                connectedAt.add(epochMicros())
                up.set(true)
            }, {
                if (up.getAndSet(false)) say("DOWN")
            })
        checkNotNull(connectedAt.poll(30, TimeUnit.SECONDS)) { "never connected" }
        say("READY")
        val samples = Histogram(TimeUnit.SECONDS.toMicros(60), 3)
        val stdin = System.`in`.bufferedReader()
        while (true) {
            val line = stdin.readLine() ?: error("harness went away")
            if (line == "DONE") break
            val serverUp = line.removePrefix("UP ").trim().toLong()
            val connected = checkNotNull(connectedAt.poll(30, TimeUnit.SECONDS)) { "no reconnect within 30 s" }
            val micros = connected - serverUp
            samples.recordValue(maxOf(0, micros))
            say("RECONNECTED $micros")
        }
        handle.close()
        fun ms(q: Double) = samples.getValueAtPercentile(q) / 1e3
        return mapOf(
            "reconnects" to samples.totalCount,
            "p50Ms" to ms(50.0),
            "minMs" to samples.minValue / 1e3,
            "maxMs" to samples.maxValue / 1e3,
            "meanMs" to samples.mean / 1e3,
            "backoffMs" to p.long("backoffMs"),
        )
    }

    private fun open(inbound: Inbound): Conn = opened { client.connect(uri, inbound) }

    private fun respond(responder: Responder): Conn = opened { client.respond(uri, responder) }

    /**
     * Waits for a connection to open. Over wss, a client that cannot open one (a TLS version or cipher suite it does
     * not support) is a result, not a crash: [ConnectUnsupported] becomes "n/a (reason)" in the report.
     */
    private fun opened(connect: () -> java.util.concurrent.CompletableFuture<Conn>): Conn = try {
        connect().get(30, TimeUnit.SECONDS)
    } catch (e: Exception) {
        if (uri.scheme != "wss") throw e
        val root = generateSequence(e as Throwable) { it.cause }.last()
        throw ConnectUnsupported("${root.javaClass.simpleName}: ${root.message}".take(120), e)
    }

    companion object {
        /** Messages echoed through the counting relay, for the wire bytes per message. */
        const val WIRE_MESSAGES = 5_000L

        /** The workloads whose sends come from the receive callback (the ones the trySend variant runs). */
        val CALLBACK_DRIVEN = setOf("cb-text", "cb-binary", "cb-rtt")
    }

    private fun awaitCount(counter: AtomicLong, target: Long) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (counter.get() < target) {
            check(System.nanoTime() < deadline) { "echoes missing after 30 s: ${counter.get()} of $target" }
            Thread.sleep(1)
        }
    }
}

/** A wss connection that could not be opened with this client: reported as "n/a ([message])". */
class ConnectUnsupported(
    message: String,
    cause: Throwable,
) : Exception(message, cause)

/** The figures of a throughput run: [sent] messages of [size] bytes echoed in [nanos], using [cpuNanos] of CPU. */
private fun throughputFigures(sent: Long, nanos: Long, size: Int, cpuNanos: Long): Map<String, Any?> {
    val seconds = nanos / 1e9
    return mapOf(
        "messages" to sent,
        "seconds" to seconds,
        "msgsPerSec" to sent / seconds,
        "mbPerSec" to sent * size / seconds / 1e6,
        // CPU the whole client process spent per echoed message (driver, library, JIT, GC): less sensitive than
        // throughput to what else the shared machine runs.
        "cpuUsPerMsg" to cpuNanos / 1e3 / sent,
    )
}

/** The figures of a latency run: [count] round trips timed in [histogram] (nanoseconds). */
private fun latencyFigures(count: Long, histogram: Histogram): Map<String, Any?> {
    fun us(q: Double) = histogram.getValueAtPercentile(q) / 1e3
    return mapOf(
        "roundTrips" to count,
        "p50Us" to us(50.0),
        "p99Us" to us(99.0),
        "p999Us" to us(99.9),
        "maxUs" to histogram.maxValue / 1e3,
        "meanUs" to histogram.mean / 1e3,
    )
}

/**
 * Context switches of every thread of this process so far, voluntary and not (Linux's /proc/self/task/<tid>/status);
 * threads that ended meanwhile are not counted, which only matters for threads born and gone in the window.
 */
internal fun contextSwitches(): Long = File("/proc/self/task").listFiles().orEmpty().sumOf { task ->
    runCatching {
        File(task, "status").readLines().filter { it.contains("ctxt_switches:") }.sumOf {
            it.substringAfter(':').trim().toLong()
        }
    }.getOrDefault(0L)
}

/** CPU time used by this whole process so far, in nanoseconds. */
internal fun processCpuNanos(): Long =
    (ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean).processCpuTime
