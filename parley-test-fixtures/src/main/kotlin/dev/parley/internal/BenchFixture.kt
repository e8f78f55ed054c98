package dev.parley.internal

import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.SendGate
import dev.parley.SendResult
import dev.parley.WireTap
import dev.parley.parleyOptions
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds

/*
 * Fixtures for the JMH benchmarks in the parley-jmh module. They live in this module's test sources because Kotlin's
 * `internal` is per module: from here they may drive the real client (ConnectionLoop, ClientHandle, LiveSession,
 * FrameWriter, MessageAssembler) over an in-memory transport, while their own surface is plain public methods over
 * public types, callable from Java. Nothing is added to Parley's published API.
 */

/** 64 bytes of ASCII: a small JSON-like message. */
private val TEXT_64: String = "{\"op\":\"tick\",\"seq\":12345,\"px\":101.25,\"qty\":3,\"side\":\"buy\",\"x\":1}"

/**
 * A real client started over a transport that does no I/O: writes and flushes only count, and [deliverInbound] feeds
 * preloaded frames to the session's reader. Not thread safe: one benchmark thread drives it.
 */
class BenchFixture {
    private val session = InMemorySession()
    private val handler = CountingHandler()
    private val text64 = Frame.Text(TEXT_64)
    private var inbound: Array<WireFrame> = emptyArray()
    private var client: ParleyClient? = null

    /** Starts a client (the production dispatcher, Dispatchers.Default) and waits until it is connected. */
    fun startClientOverFakeTransport() = startClientOverFakeTransport(null)

    /** As [startClientOverFakeTransport], every data frame passing [gate] first (a rate limit, for its cost). */
    fun startClientOverFakeTransport(gate: SendGate?) = startClientOverFakeTransport(gate, null)

    /** As [startClientOverFakeTransport], with [gate] and every frame shown to [tap] (a recorder, for its cost). */
    fun startClientOverFakeTransport(gate: SendGate?, tap: WireTap?) {
        check(client == null) { "already started" }
        val options =
            parleyOptions {
                url = "ws://bench.invalid/ws"
                name = "bench"
                sendQueueCapacity = QUEUE_CAPACITY
                sendGate = gate
                wireTap = tap
            }
        val started =
            ConnectionLoop.start(
                parent = null,
                handler = handler,
                initialState = Unit,
                options = options,
                transport = OneSessionTransport(session),
            )
        client = started
        // connect() returns once onConnect has run and the writer takes user frames.
        runBlocking { withTimeout(10.seconds) { started.connect() } }
    }

    /** `send` of [frames] 64-byte text frames, one after another from one coroutine on Dispatchers.Default. */
    fun sendBatch(frames: Int) {
        val c = started()
        val frame = text64
        runBlocking(Dispatchers.Default) {
            repeat(frames) { c.send(frame) }
        }
    }

    /** `trySend` of [frames] 64-byte text frames from the calling thread, then waits for the last to be written. */
    fun trySendBatch(frames: Int) {
        require(frames in 1..QUEUE_CAPACITY) { "at most $QUEUE_CAPACITY frames per batch" }
        val c = started()
        val frame = text64
        var last: Deferred<Unit>? = null
        repeat(frames) {
            when (val r = c.trySend(frame)) {
                is SendResult.Enqueued -> last = r.written
                is SendResult.Rejected -> throw IllegalStateException("trySend rejected", r.cause)
            }
        }
        // The writer completes frames in queue order, so the last one written means all were.
        runBlocking { last!!.await() }
    }

    /**
     * Has the transport yield [frames] preloaded 64-byte text frames and waits until the handler's onFrame has seen
     * them all: reader, MessageAssembler with UTF-8 validation, the loop's event channel, the loop and the handler.
     */
    fun deliverInbound(frames: Int) {
        started()
        if (inbound.size != frames) {
            val payload = TEXT_64.encodeToByteArray()
            inbound = Array(frames) { WireFrame(Opcode.TEXT, payload) }
        }
        val done = handler.expect(frames)
        session.feed(inbound)
        check(done.await(30, TimeUnit.SECONDS)) { "the handler saw too few frames within 30 s" }
    }

    /** Text and binary frames the transport was asked to write. */
    // One metrics() snapshot, as a monitoring thread takes it.
    fun metrics(): Any = started().metrics()

    fun dataFramesWritten(): Long = session.dataFrames

    /** Payload bytes of those frames. */
    fun dataBytesWritten(): Long = session.dataBytes

    /** Flushes the transport was asked to do; frames per flush is the writer's batch size. */
    fun flushes(): Long = session.flushes

    /** Messages the handler's onFrame has seen. */
    fun framesHandled(): Long = handler.seen

    /** Stops the client and waits for it to end. Safe to call twice. */
    fun stop() {
        val c = client ?: return
        runBlocking { withTimeout(10.seconds) { c.stop() } }
        client = null
    }

    private fun started(): ParleyClient = checkNotNull(client) { "call startClientOverFakeTransport() first" }

    private companion object {
        /** Room for a whole trySend batch, so the queue never rejects one. */
        const val QUEUE_CAPACITY = 4096
    }
}

/** MessageAssembler alone, as one connection's reader uses it: one assembler, frames fed one by one. */
class AssemblerFixture {
    private val assembler = MessageAssembler(16L * 1024 * 1024)
    private val text64 = WireFrame(Opcode.TEXT, TEXT_64.encodeToByteArray())
    private val binary16k = WireFrame(Opcode.BINARY, ByteArray(16 * 1024) { it.toByte() })

    /** Returns the assembled message (an `Inbound`), for the benchmark to consume. */
    fun assembleText64(): Any? = assembler.accept(text64)

    fun assembleBinary16k(): Any? = assembler.accept(binary16k)
}

/** Utf8Validator over 16 KiB of mixed text: ASCII with 2-, 3- and 4-byte sequences. */
class Utf8Fixture {
    val mixed16k: ByteArray = mixedText(16 * 1024)

    /** Validates the whole buffer as one message; true when valid and complete. */
    fun validateMixed16k(): Boolean {
        val v = Utf8Validator()
        return v.feed(mixed16k) && v.isComplete
    }

    private companion object {
        const val SAMPLE = "Parley says hello: héllo wörld, привет, γειά, 你好世界, こんにちは, €42 😀🚀 ok. "

        /** Exactly [size] bytes of valid UTF-8: [SAMPLE] repeated, cut at a code point, padded with ASCII. */
        fun mixedText(size: Int): ByteArray {
            val out = java.io.ByteArrayOutputStream(size)
            var i = 0
            while (true) {
                val cp = SAMPLE.codePointAt(i % SAMPLE.length)
                val bytes = String(Character.toChars(cp)).encodeToByteArray()
                if (out.size() + bytes.size > size) break
                out.write(bytes)
                i += Character.charCount(cp)
            }
            while (out.size() < size) out.write('.'.code)
            return out.toByteArray()
        }
    }
}

/** Hands out the one [session] on the first open; the benchmarks never reconnect. */
private class OneSessionTransport(
    private val session: InMemorySession,
) : Transport {
    override suspend fun open(request: OpenRequest): TransportSession = session

    override fun close() = Unit
}

/**
 * A session without I/O. write and flush only count (one writer coroutine calls them, so plain fields do); receive
 * yields the frames of each fed batch in turn and suspends between batches.
 */
private class InMemorySession : TransportSession {
    override val subprotocol: String? = null
    override val responseHeaders: Map<String, List<String>> = emptyMap()

    private val batches = Channel<Array<WireFrame>>(Channel.UNLIMITED)
    private var current: Array<WireFrame> = emptyArray()
    private var next = 0

    var dataFrames = 0L
        private set
    var dataBytes = 0L
        private set
    var flushes = 0L
        private set

    fun feed(frames: Array<WireFrame>) {
        batches.trySend(frames).getOrThrow()
    }

    override suspend fun receive(): WireFrame? {
        while (next == current.size) {
            current = batches.receiveCatching().getOrNull() ?: return null
            next = 0
        }
        return current[next++]
    }

    override suspend fun write(frame: WireFrame) {
        if (!frame.opcode.isControl) {
            dataFrames++
            dataBytes += frame.payload.size
        }
    }

    override suspend fun flush() {
        flushes++
    }

    override fun abort() {
        batches.close()
    }

    override fun release(linger: kotlin.time.Duration) = abort()
}

/** Counts messages; [expect] arms a latch that opens once that many more have been seen. */
private class CountingHandler : ParleyHandler<Unit> {
    private class Expectation(
        var remaining: Int,
        val latch: CountDownLatch,
    )

    @Volatile
    private var expectation: Expectation? = null

    /** Written only by the loop's coroutine; read after the latch or after stop(). */
    var seen = 0L
        private set

    private val ok = HandlerAction.Ok(Unit)

    fun expect(frames: Int): CountDownLatch {
        val latch = CountDownLatch(1)
        expectation = Expectation(frames, latch)
        return latch
    }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        seen++
        val e = expectation
        if (e != null && --e.remaining == 0) {
            expectation = null
            e.latch.countDown()
        }
        return ok
    }
}
