package dev.parley.support

import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.internal.Clock
import dev.parley.internal.ConnectionLoop
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import java.io.IOException
import java.net.ConnectException
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration

/**
 * Like [FakeSession], but the test may feed any frame (pings, frames that break the protocol) and make a write fail.
 *
 * @param writes `null`: every write finishes at once; otherwise each write waits for that gate first.
 * @param failWriteAt the write with this number (from 1) throws an IOException instead of writing; `null`: none does.
 * @param answerClose when the client writes a close frame, the "peer" answers with this one at once.
 * @param arrivedBeforeFailure a frame the peer sent just before the connection broke: it is in the inbound stream
 *   when the failing write throws, as a close frame is when a server closes and resets while we write.
 */
internal class ScriptedSession(
    private val writes: CompletableDeferred<Unit>? = null,
    private val failWriteAt: Int? = null,
    private val answerClose: WireFrame? = null,
    private val arrivedBeforeFailure: WireFrame? = null,
) : TransportSession {
    override val subprotocol: String? = null
    override val responseHeaders: Map<String, List<String>> = emptyMap()

    private val inbound = Channel<WireFrame>(Channel.UNLIMITED)
    private val writeCount = AtomicInteger()

    /** Frames whose write finished, in order. */
    val written: MutableList<WireFrame> = CopyOnWriteArrayList()

    /** Completed when a write first starts. */
    val writeStarted = CompletableDeferred<Unit>()
    val aborts = AtomicInteger()
    val releases = AtomicInteger()

    val writtenTexts: List<String>
        get() = written.filter { it.opcode == Opcode.TEXT }.map { it.payload.decodeToString() }

    fun feed(frame: WireFrame) {
        inbound.trySend(frame).getOrThrow()
    }

    fun feedText(text: String) = feed(WireFrame(Opcode.TEXT, text.encodeToByteArray()))

    fun feedPing(payload: String) = feed(WireFrame(Opcode.PING, payload.encodeToByteArray()))

    /** End of stream without a close frame. */
    fun drop() {
        inbound.close()
    }

    override suspend fun receive(): WireFrame? = inbound.receiveCatching().getOrNull()

    override suspend fun write(frame: WireFrame) {
        writeStarted.complete(Unit)
        writes?.await()
        if (writeCount.incrementAndGet() == failWriteAt) {
            arrivedBeforeFailure?.let { inbound.trySend(it) }
            throw IOException("scripted write failure")
        }
        written += frame
        if (frame.opcode == Opcode.CLOSE && answerClose != null) inbound.trySend(answerClose)
    }

    override suspend fun flush() = Unit

    override fun abort() {
        aborts.incrementAndGet()
        inbound.close()
    }

    override fun release(linger: Duration) {
        releases.incrementAndGet()
        inbound.close()
    }
}

/** A transport handing out a fresh session from [newSession] per attempt, recorded in [opened]. */
internal class ScriptedTransport<T : TransportSession>(
    private val newSession: () -> T,
) : Transport {
    val opened: MutableList<T> = CopyOnWriteArrayList()
    val opens = AtomicInteger()

    override suspend fun open(request: OpenRequest): TransportSession {
        opens.incrementAndGet()
        return newSession().also { opened += it }
    }

    override fun close() = Unit
}

/** A transport whose every attempt is refused, as by a host with nothing listening. */
internal class RefusingTransport : Transport {
    val opens = AtomicInteger()

    override suspend fun open(request: OpenRequest): TransportSession {
        opens.incrementAndGet()
        throw ConnectException("Connection refused (scripted)")
    }

    override fun close() = Unit
}

/**
 * A client on [TestScope]'s virtual clock over [transport], like [virtualClient], whose metrics clock is virtual
 * too: durations it reports (sinceLastInbound, timeInState) are virtual time.
 */
internal fun <S> TestScope.virtualClockClient(
    handler: ParleyHandler<S>,
    initialState: S,
    options: ParleyOptions,
    transport: Transport,
    parent: CoroutineScope = backgroundScope,
): ParleyClient = virtualClient(
    handler,
    initialState,
    options,
    transport,
    parent,
    Clock {
        testScheduler.currentTime *
            1_000_000
    },
)
