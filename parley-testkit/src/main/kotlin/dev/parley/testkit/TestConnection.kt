package dev.parley.testkit

import dev.parley.testkit.internal.ProtocolFault
import dev.parley.testkit.internal.Settings
import dev.parley.testkit.internal.Wire
import java.io.DataInputStream
import java.io.IOException
import java.io.InputStream
import java.io.UncheckedIOException
import java.net.Socket
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction
import java.time.Duration
import java.util.concurrent.locks.ReentrantLock
import java.util.function.Predicate
import java.util.regex.Pattern
import kotlin.concurrent.withLock

/**
 * The server side of one upgraded WebSocket connection to a [WebSocketTestServer], as a test drives it.
 *
 * Everything the client sends is recorded: text and binary messages (reassembled from fragments) and its close frame
 * as [TestMessage]s, in order; pings and pongs apart. The `expect…` methods take recorded messages one at a time, in
 * order: each checks the *next* message not yet taken, waiting for it up to a timeout (the server's default, 5 s
 * unless [WebSocketTestServer.Builder.defaultTimeout] says otherwise), and throws an [AssertionError] that lists what
 * was received when it does not match or does not come.
 *
 * The server answers pings with pongs and a close frame with a close frame, unless told not to ([answerPings],
 * [answerClose]); a client frame that breaks RFC 6455 (unmasked, reserved bits or opcodes, a bad fragment sequence,
 * invalid UTF-8, a control frame over 125 bytes) or is over the server's size limit is recorded in [faults] and
 * answered with a close frame (1002, 1007 or 1009) and the end of the connection.
 *
 * All methods are thread-safe and block only for as long as their timeout says. Sending on a connection that has
 * ended throws [UncheckedIOException].
 */
public class TestConnection internal constructor(
    private val socket: Socket,
    input: InputStream,
    private val request: UpgradeRequest,
    private val subprotocol: String?,
    private val index: Int,
    private val settings: Settings,
    private val onEnd: (TestConnection) -> Unit,
) {
    private val input = DataInputStream(input)
    private val output = socket.getOutputStream()
    private val lock = ReentrantLock()
    private val changed = lock.newCondition()

    // Guarded by lock.
    private val messages = ArrayList<TestMessage>()
    private var taken = 0
    private val pings = ArrayList<ByteArray>()
    private var pingsTaken = 0
    private val pongs = ArrayList<ByteArray>()
    private var pongsTaken = 0
    private val faults = ArrayList<String>()
    private var ended = false
    private var endedBy = ""
    private var paused = false

    @Volatile private var answerPings = true

    @Volatile private var answerClose = true

    @Volatile private var closeSent = false

    /** This connection's place in accept order: 1 for the server's first connection, 2 for the next, and so on. */
    public fun index(): Int = index

    /** The upgrade request that opened this connection. */
    public fun request(): UpgradeRequest = request

    /** The subprotocol the server selected in its 101, or `null` when none was. */
    public fun subprotocol(): String? = subprotocol

    /** True until the TCP connection ends (closed by either side, or dropped). */
    public fun isOpen(): Boolean = lock.withLock { !ended }

    // ----------------------------------------------------------------------------------------------------------------
    // Sending

    /** Sends a text message in one frame. */
    public fun sendText(text: String): Unit = sendFrame(WebSocketFrames.TEXT, text.toByteArray(Charsets.UTF_8), true)

    /** Sends a binary message in one frame. */
    public fun sendBinary(bytes: ByteArray): Unit = sendFrame(WebSocketFrames.BINARY, bytes, true)

    /** Sends a ping with [payload] (at most 125 bytes for a valid ping; more is a fault for the client). */
    @JvmOverloads
    public fun sendPing(payload: ByteArray = ByteArray(0)): Unit = sendFrame(WebSocketFrames.PING, payload, true)

    /** Sends an unsolicited pong with [payload]. */
    @JvmOverloads
    public fun sendPong(payload: ByteArray = ByteArray(0)): Unit = sendFrame(WebSocketFrames.PONG, payload, true)

    /**
     * Sends one unmasked frame with the given [opcode] (reserved ones too), [payload] and FIN bit: use `fin = false`
     * then [WebSocketFrames.CONTINUATION] frames to send a fragmented message.
     */
    public fun sendFrame(opcode: Int, payload: ByteArray, fin: Boolean): Unit =
        sendRaw(WebSocketFrames.encode(opcode, payload, fin))

    /** Writes [bytes] to the socket as they are: for frames that break the protocol (see [WebSocketFrames.encode]). */
    public fun sendRaw(bytes: ByteArray) {
        try {
            synchronized(output) {
                output.write(bytes)
                output.flush()
            }
        } catch (e: IOException) {
            throw UncheckedIOException("connection #$index has ended; cannot send", e)
        }
    }

    /**
     * Starts the close handshake: sends a close frame with [code] and [reason] (any code, valid or not; a reason over
     * 123 bytes makes an invalid frame). The server closes TCP when the client's close frame comes back; use
     * [awaitClosed] to wait for that and [expectClose] to check what the client answered.
     */
    @JvmOverloads
    public fun close(code: Int, reason: String = "") {
        closeSent = true
        sendFrame(WebSocketFrames.CLOSE, Wire.closePayload(code, reason), true)
    }

    /** Closes TCP normally (FIN) without any close frame: the connection just ends. */
    public fun closeTcp() {
        runCatching { socket.shutdownOutput() }
        runCatching { socket.close() }
        markEnded("the server (closeTcp)")
    }

    /**
     * Drops the connection without a close frame or FIN: SO_LINGER 0 makes the close send a TCP reset, as a crashed
     * peer or a broken network path would look.
     */
    public fun dropTcp() {
        runCatching { socket.setSoLinger(true, 0) }
        runCatching { socket.close() }
        markEnded("the server (dropTcp)")
    }

    /** Whether to answer the client's pings with pongs (the default). Pings are recorded either way. */
    public fun answerPings(answer: Boolean) {
        answerPings = answer
    }

    /** Stops answering pings: the client's heartbeat sees a peer that is silent but still connected. */
    public fun stopAnsweringPings(): Unit = answerPings(false)

    /**
     * Whether to answer the client's close frame with one (the default) and end the connection. With false, the
     * close frame is recorded and the server keeps the connection open, as a peer that never completes the handshake.
     */
    public fun answerClose(answer: Boolean) {
        answerClose = answer
    }

    /**
     * Stops reading from the socket after the frame being read now, so the client's writes fill the socket buffers
     * (a stalled peer: see [WebSocketTestServer.Builder.receiveBufferSize]). Nothing is recorded or answered meanwhile.
     */
    public fun pauseReading() {
        lock.withLock { paused = true }
    }

    /** Resumes reading after [pauseReading]. */
    public fun resumeReading() {
        lock.withLock {
            paused = false
            changed.signalAll()
        }
    }

    // ----------------------------------------------------------------------------------------------------------------
    // Expecting

    /** Expects the next message to be the text [expected], within the default timeout. Returns it. */
    public fun expectText(expected: String): TestMessage = expectText(expected, settings.defaultTimeout)

    /** Expects the next message to be the text [expected], within [timeout]. Returns it. */
    public fun expectText(expected: String, timeout: Duration): TestMessage =
        expect("text \"$expected\"", Predicate { it.isText() && it.text() == expected }, timeout)

    /** Expects the next message to be a text in which [pattern] finds a match, within the default timeout. */
    public fun expectText(pattern: Pattern): TestMessage = expectText(pattern, settings.defaultTimeout)

    /**
     * Expects the next message to be a text in which [pattern] finds a match (`Matcher.find`; anchor it with `^…$`
     * to match the whole text), within [timeout]. Returns it.
     */
    public fun expectText(pattern: Pattern, timeout: Duration): TestMessage = expect(
        "text matching /${pattern.pattern()}/",
        Predicate {
            it.isText() && pattern.matcher(it.text()).find()
        },
        timeout,
    )

    /** Expects the next message to be binary with exactly [expected] as its bytes, within the default timeout. */
    public fun expectBinary(expected: ByteArray): TestMessage = expectBinary(expected, settings.defaultTimeout)

    /** Expects the next message to be binary with exactly [expected] as its bytes, within [timeout]. */
    public fun expectBinary(expected: ByteArray, timeout: Duration): TestMessage {
        val copy = expected.copyOf()
        return expect(
            "binary(${copy.size} bytes)",
            Predicate {
                it.isBinary() && it.bytes().contentEquals(copy)
            },
            timeout,
        )
    }

    /** Expects the next message to be a close frame (any code), within the default timeout. */
    public fun expectClose(): TestMessage = expect("a close frame", Predicate { it.isClose() }, settings.defaultTimeout)

    /** Expects the next message to be a close frame with [code], within the default timeout. */
    public fun expectClose(code: Int): TestMessage = expectClose(code, settings.defaultTimeout)

    /** Expects the next message to be a close frame with [code] (1005 for an empty one), within [timeout]. */
    public fun expectClose(code: Int, timeout: Duration): TestMessage =
        expect("close($code)", Predicate { it.isClose() && it.closeCode() == code }, timeout)

    /** Expects the next message to satisfy [predicate], within the default timeout. */
    public fun expect(predicate: Predicate<TestMessage>): TestMessage =
        expect("a message matching the predicate", predicate, settings.defaultTimeout)

    /** Expects the next message to satisfy [predicate], within [timeout]. */
    public fun expect(predicate: Predicate<TestMessage>, timeout: Duration): TestMessage =
        expect("a message matching the predicate", predicate, timeout)

    /**
     * Expects the next message to satisfy [predicate], within [timeout]; [description] says what was expected in the
     * failure message. Returns the message. The message is taken even when it does not match.
     */
    public fun expect(description: String, predicate: Predicate<TestMessage>, timeout: Duration): TestMessage {
        val message = next(timeout) { "expected $description within $timeout, but " + it }
        if (!predicate.test(message)) {
            throw AssertionError(describe("expected $description, but the next message was $message"))
        }
        return message
    }

    /** Takes the next message, whatever it is, waiting up to the default timeout. */
    public fun nextMessage(): TestMessage = nextMessage(settings.defaultTimeout)

    /** Takes the next message, whatever it is, waiting up to [timeout]; fails when none comes. */
    public fun nextMessage(timeout: Duration): TestMessage =
        next(timeout) { "expected a message within $timeout, but $it" }

    /**
     * Checks that the client sends nothing more: no message is waiting to be taken, and none arrives for the next
     * [quietWindow]. Returns early, passing, when the connection ends without one.
     */
    public fun expectNothingMore(quietWindow: Duration) {
        val deadline = deadline(quietWindow)
        lock.withLock {
            while (taken == messages.size && !ended) {
                val left = deadline - System.nanoTime()
                if (left <= 0) return
                changed.awaitNanos(left)
            }
            if (taken < messages.size) {
                throw AssertionError(
                    describe("expected nothing more within $quietWindow, but the client sent ${messages[taken]}"),
                )
            }
        }
    }

    /** [expectNothingMore] with the server's quiet window (500 ms unless [WebSocketTestServer.Builder.quietWindow]). */
    public fun expectNothingMore(): Unit = expectNothingMore(settings.quietWindow)

    /** Expects the client to send a ping (one not taken yet), within the default timeout. Returns its payload. */
    public fun expectPing(): ByteArray = expectPing(settings.defaultTimeout)

    /** Expects the client to send a ping (one not taken yet), within [timeout]. Returns its payload. */
    public fun expectPing(timeout: Duration): ByteArray = takeControl(timeout, ping = true)

    /** Expects the client to send a pong (one not taken yet), within the default timeout. Returns its payload. */
    public fun expectPong(): ByteArray = expectPong(settings.defaultTimeout)

    /** Expects the client to send a pong (one not taken yet), within [timeout]. Returns its payload. */
    public fun expectPong(timeout: Duration): ByteArray = takeControl(timeout, ping = false)

    /** Waits up to the default timeout for the TCP connection to end. */
    public fun awaitClosed(): Unit = awaitClosed(settings.defaultTimeout)

    /** Waits up to [timeout] for the TCP connection to end (closed by either side, or dropped); fails if it does not. */
    public fun awaitClosed(timeout: Duration) {
        val deadline = deadline(timeout)
        lock.withLock {
            while (!ended) {
                val left = deadline - System.nanoTime()
                if (left <= 0) throw AssertionError(describe("expected the connection to end within $timeout"))
                changed.awaitNanos(left)
            }
        }
    }

    /** Every message received so far, taken or not, in order. A snapshot. */
    public fun messages(): List<TestMessage> = lock.withLock { messages.toList() }

    /** How many pings the client has sent so far. */
    public fun pingCount(): Int = lock.withLock { pings.size }

    /** What the client did that RFC 6455 or the server's limits forbid, and handlers that threw. A snapshot. */
    public fun faults(): List<String> = lock.withLock { faults.toList() }

    /** `TestConnection#1(GET /ws, open)`. */
    override fun toString(): String =
        "TestConnection#$index(${request.method()} ${request.target()}, ${if (isOpen()) "open" else "ended"})"

    // ----------------------------------------------------------------------------------------------------------------
    // Machinery

    private inline fun next(timeout: Duration, failure: (String) -> String): TestMessage {
        val deadline = deadline(timeout)
        lock.withLock {
            while (taken == messages.size) {
                if (ended) throw AssertionError(describe(failure("the connection ended (closed by $endedBy)")))
                val left = deadline - System.nanoTime()
                if (left <= 0) throw AssertionError(describe(failure("nothing more arrived")))
                changed.awaitNanos(left)
            }
            return messages[taken++]
        }
    }

    private fun takeControl(timeout: Duration, ping: Boolean): ByteArray {
        val what = if (ping) "a ping" else "a pong"
        val deadline = deadline(timeout)
        lock.withLock {
            while (true) {
                if (ping && pingsTaken < pings.size) return pings[pingsTaken++]
                if (!ping && pongsTaken < pongs.size) return pongs[pongsTaken++]
                if (ended) throw AssertionError(describe("expected $what within $timeout, but the connection ended"))
                val left = deadline - System.nanoTime()
                if (left <= 0) throw AssertionError(describe("expected $what within $timeout, but none came"))
                changed.awaitNanos(left)
            }
        }
    }

    private fun deadline(timeout: Duration): Long {
        require(!timeout.isNegative) { "negative timeout: $timeout" }
        val nanos = try {
            timeout.toNanos()
        } catch (_: ArithmeticException) {
            Long.MAX_VALUE / 2
        }
        return System.nanoTime() + nanos.coerceAtMost(Long.MAX_VALUE / 4)
    }

    /** [headline], then what this connection received and its state: the body of every assertion failure. */
    private fun describe(headline: String): String = lock.withLock {
        buildString {
            append("connection #").append(index).append(" (").append(request.method()).append(' ')
            append(request.target()).append("): ").append(headline).append('\n')
            append("received ").append(messages.size).append(if (messages.size == 1) " message" else " messages")
            if (messages.isEmpty()) append(".\n") else append(" (> marks those taken by an expect…):\n")
            messages.forEachIndexed { i, m ->
                append(if (i < taken) "  > " else "    ").append(i + 1).append(". ").append(m).append('\n')
            }
            append("pings received: ").append(pings.size).append(", pongs received: ").append(pongs.size).append('\n')
            append("connection: ").append(if (ended) "ended (closed by $endedBy)" else "open")
            if (faults.isNotEmpty()) append("\nfaults: ").append(faults.joinToString("; "))
        }
    }

    private fun markEnded(by: String) {
        val first = lock.withLock {
            val first = !ended
            if (first) {
                ended = true
                endedBy = by
            }
            changed.signalAll()
            first
        }
        if (first) onEnd(this)
    }

    private fun fault(text: String) {
        lock.withLock {
            faults += text
            changed.signalAll()
        }
    }

    private fun record(message: TestMessage) {
        lock.withLock {
            messages += message
            changed.signalAll()
        }
    }

    /** Ends the connection from this side after the closing handshake (the server closes TCP first, section 7.1.1). */
    private fun endAfterClose() {
        runCatching { socket.shutdownOutput() }
        runCatching { socket.close() }
        markEnded(if (closeSent) "the server, after the close handshake" else "the server, answering the close")
    }

    /** Runs the server's hooks for a new connection, then reads frames until the connection ends. */
    internal fun run() {
        for (hook in settings.onConnection) guard("onConnection") { hook(this) }
        try {
            readLoop()
        } catch (f: ProtocolFault) {
            fault("${f.message} (closing with ${f.code})")
            if (!closeSent) runCatching { close(f.code, f.message.orEmpty().take(MAX_REASON_CHARS)) }
            runCatching { socket.shutdownOutput() }
            runCatching { socket.close() }
            markEnded("the server, after a client fault")
        } catch (_: IOException) {
            runCatching { socket.close() }
            markEnded("the client (or a reset)")
        } catch (_: UncheckedIOException) {
            runCatching { socket.close() }
            markEnded("the client (or a reset)")
        } catch (e: RuntimeException) {
            fault("the server failed: $e")
            runCatching { socket.close() }
            markEnded("the server, after its own failure")
        }
    }

    private fun readLoop() {
        var fragments: java.io.ByteArrayOutputStream? = null
        var fragmentOpcode = 0
        var closeReceived = false
        while (true) {
            lock.withLock {
                while (paused && !ended) changed.await()
                if (ended) return
            }
            val frame = Wire.readFrame(input, settings.maxMessageSize)
            if (frame == null) {
                runCatching { socket.close() }
                markEnded("the client")
                return
            }
            if (closeReceived) {
                fault("frame (opcode ${frame.opcode}) after the close frame")
                continue
            }
            when (frame.opcode) {
                WebSocketFrames.TEXT, WebSocketFrames.BINARY -> {
                    if (fragments != null) throw ProtocolFault(1002, "new message inside a fragmented one")
                    if (frame.fin) {
                        deliver(frame.opcode, frame.payload)
                    } else {
                        fragments = java.io.ByteArrayOutputStream().also { it.write(frame.payload) }
                        fragmentOpcode = frame.opcode
                    }
                }

                WebSocketFrames.CONTINUATION -> {
                    val buffer = fragments ?: throw ProtocolFault(1002, "continuation frame without a message")
                    if (buffer.size().toLong() + frame.payload.size > settings.maxMessageSize) {
                        throw ProtocolFault(1009, "message over the limit of ${settings.maxMessageSize} bytes")
                    }
                    buffer.write(frame.payload)
                    if (frame.fin) {
                        fragments = null
                        deliver(fragmentOpcode, buffer.toByteArray())
                    }
                }

                WebSocketFrames.PING -> {
                    lock.withLock {
                        pings += frame.payload
                        changed.signalAll()
                    }
                    if (answerPings) sendFrame(WebSocketFrames.PONG, frame.payload, true)
                }

                WebSocketFrames.PONG -> lock.withLock {
                    pongs += frame.payload
                    changed.signalAll()
                }

                WebSocketFrames.CLOSE -> {
                    if (frame.payload.size == 1) throw ProtocolFault(1002, "close frame with a 1-byte payload")
                    closeReceived = true
                    record(TestMessage(TestMessage.Kind.CLOSE, frame.payload))
                    if (closeSent) {
                        endAfterClose()
                        return
                    }
                    if (answerClose) {
                        val code = if (frame.payload.size >=
                            2
                        ) {
                            ByteBuffer.wrap(frame.payload).short.toInt() and 0xFFFF
                        } else {
                            null
                        }
                        closeSent = true
                        runCatching { sendFrame(WebSocketFrames.CLOSE, Wire.closePayload(code, ""), true) }
                        endAfterClose()
                        return
                    }
                }

                else -> throw ProtocolFault(1002, "reserved opcode ${frame.opcode}")
            }
        }
    }

    private fun deliver(opcode: Int, payload: ByteArray) {
        val message = if (opcode == WebSocketFrames.TEXT) {
            try {
                Charsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(payload))
            } catch (_: CharacterCodingException) {
                throw ProtocolFault(1007, "text message is not valid UTF-8")
            }
            TestMessage(TestMessage.Kind.TEXT, payload)
        } else {
            TestMessage(TestMessage.Kind.BINARY, payload)
        }
        record(message)
        if (settings.echo) {
            guard("echo") { sendFrame(opcode, payload, true) }
        }
        settings.rules.firstOrNull { it.matches(message) }?.let { rule -> guard("reply") { rule.act(this, message) } }
        for (handler in settings.onMessage) guard("onMessage") { handler(this, message) }
    }

    private inline fun guard(what: String, block: () -> Unit) {
        try {
            block()
        } catch (e: Exception) {
            fault("$what threw $e")
        }
    }

    internal fun endByServer() {
        runCatching { socket.close() }
        markEnded("the server (closed or reset)")
    }

    internal companion object {
        /** A close reason must fit a 125-byte control frame with its 2-byte code; ASCII reasons from faults do. */
        const val MAX_REASON_CHARS = 123
    }
}
