package dev.parley.recorder

import dev.parley.FrameKind
import dev.parley.WireDirection
import dev.parley.testkit.TestConnection
import dev.parley.testkit.TestMessage
import dev.parley.testkit.WebSocketTestServer
import java.net.URI
import java.time.Duration
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * Serves a [Recording] from the test kit's [WebSocketTestServer], so that a real client (yours, with its real handler
 * or listener) lives through a recorded production session in a test. Requires `parley-testkit` on the class path.
 *
 * The n-th connection the server accepts plays the recording's n-th connection: it sends what the server sent, in
 * order, and where the client sent a text or binary message it waits for the client's next one before going on (up
 * to [timeout]), so replies come after the requests they answer, as they did. What the client sends is compared with
 * what was recorded (redacted text is compared for its kind only) and reported in a [PlaybackReport]. The connection
 * ends as it ended: the server's close frame when the server closed, the client's own close when the client did, a
 * dropped TCP connection otherwise. A connection the recording does not have is closed with 1001.
 *
 * Close it (or use `use`) to stop the server.
 */
public class RecordingServer private constructor(
    private val recording: Recording,
    private val pace: ReplayPace,
    private val timeout: Duration,
) : AutoCloseable {
    private val reports = LinkedBlockingQueue<PlaybackReport>()
    private val recorded = recording.connections()

    private val server: WebSocketTestServer =
        WebSocketTestServer.builder()
            .subprotocols(
                *recording.entries.filterIsInstance<RecordedConnect>().mapNotNull {
                    it.subprotocol
                }.distinct().toTypedArray(),
            )
            .defaultTimeout(timeout)
            .onConnection { live ->
                // The test kit reads the client's frames on this thread once the hook returns: play on another.
                Thread({ reports += play(live) }, "parley-playback-${live.index()}").apply {
                    isDaemon = true
                    start()
                }
            }
            .start()

    /** The `ws://127.0.0.1:port/` URI to connect to. */
    public fun uri(): URI = server.uri()

    /** [uri] as a string. */
    public fun url(): String = server.url()

    /** The server being played from, for its own checks (upgrade requests, connection counts). */
    public fun server(): WebSocketTestServer = server

    /** Waits up to [timeout] for the next connection's playback to end, and says how it went. */
    @JvmOverloads
    public fun awaitPlayed(timeout: Duration = this.timeout.multipliedBy(4)): PlaybackReport =
        reports.poll(timeout.toMillis(), TimeUnit.MILLISECONDS)
            ?: throw AssertionError("no recorded connection finished playing within $timeout")

    override fun close() {
        server.close()
    }

    private fun play(live: TestConnection): PlaybackReport {
        val number = recorded.getOrNull(live.index() - 1)
        if (number == null) {
            runCatching { live.close(1001, "the recording has no more connections") }
            return PlaybackReport(0, 0, 0, 0, listOf("connection ${live.index()} is not in the recording"), false)
        }
        val entries = recording.connection(number)
        var played = 0
        var expected = 0
        var matched = 0
        val mismatches = ArrayList<String>()
        var previous = entries.first().at
        var serverClosed = false
        var clientClosed = false
        try {
            for (entry in entries) {
                if (entry !is RecordedFrame) continue
                if (pace == ReplayPace.REAL_TIME && entry.direction == WireDirection.INBOUND) {
                    val gap = Duration.between(previous, entry.at)
                    if (!gap.isNegative) Thread.sleep(gap.toMillis())
                }
                previous = entry.at
                if (entry.direction == WireDirection.INBOUND) {
                    when (entry.kind) {
                        FrameKind.TEXT -> live.sendText(entry.text.orEmpty())

                        FrameKind.BINARY -> live.sendBinary(entry.payload())

                        FrameKind.PING -> live.sendPing(entry.payload())

                        FrameKind.PONG -> live.sendPong(entry.payload())

                        FrameKind.CLOSE -> {
                            if (!clientClosed) live.close(entry.closeCode ?: 1000, entry.closeReason.orEmpty())
                            serverClosed = true
                        }
                    }
                    if (entry.kind != FrameKind.CLOSE) played++
                    continue
                }
                // The client's pings and pongs follow its own timers, not the recording: only messages are awaited.
                if (entry.kind == FrameKind.PING || entry.kind == FrameKind.PONG) continue
                if (entry.kind == FrameKind.CLOSE) {
                    clientClosed = true
                    if (!serverClosed) live.expectClose()
                    continue
                }
                expected++
                val sent = live.nextMessage(timeout)
                val why = differs(entry, sent)
                if (why == null) matched++ else mismatches += "client message $expected: $why"
            }
            if (!serverClosed && !clientClosed) live.closeTcp()
            live.awaitClosed(timeout)
            return PlaybackReport(number, played, expected, matched, mismatches, true)
        } catch (e: AssertionError) {
            mismatches += e.message ?: e.toString()
        } catch (e: Exception) {
            mismatches += "the playback failed: $e"
        }
        runCatching { live.closeTcp() }
        return PlaybackReport(number, played, expected, matched, mismatches, false)
    }

    private fun differs(recorded: RecordedFrame, sent: TestMessage): String? = when {
        recorded.kind == FrameKind.TEXT && !sent.isText() -> "expected text, got ${sent.kind()}"

        recorded.kind == FrameKind.BINARY && !sent.isBinary() -> "expected binary, got ${sent.kind()}"

        recorded.redacted -> null

        recorded.kind == FrameKind.TEXT && sent.text() != recorded.text ->
            "expected text of ${recorded.text.orEmpty().length} chars as recorded, got other text of ${sent.text().length}"

        recorded.kind == FrameKind.BINARY && !sent.bytes().contentEquals(recorded.payload()) ->
            "expected ${recorded.payload().size} bytes as recorded, got other ${sent.size()} bytes"

        else -> null
    }

    public companion object {
        /**
         * Starts a server on 127.0.0.1 playing [recording] at [pace], waiting up to [timeout] for each message the
         * client is expected to send.
         */
        @JvmStatic
        @JvmOverloads
        public fun start(
            recording: Recording,
            pace: ReplayPace = ReplayPace.FAST,
            timeout: Duration = Duration.ofSeconds(5),
        ): RecordingServer = RecordingServer(recording, pace, timeout)
    }
}

/**
 * How one recorded connection played to a client from a [RecordingServer].
 *
 * @property connection the recorded connection's number (0 when the recording had none left for the client).
 * @property played frames sent to the client as the server had sent them.
 * @property expected messages the client was expected to send, as it had.
 * @property matched of those, the ones the client sent as recorded.
 * @property mismatches what differed, one line each (lengths, never contents).
 * @property complete whether the connection played to its recorded end.
 */
public class PlaybackReport internal constructor(
    public val connection: Long,
    public val played: Int,
    public val expected: Int,
    public val matched: Int,
    public val mismatches: List<String>,
    public val complete: Boolean,
) {
    /** Whether the whole connection played and the client sent everything as recorded. */
    public val faithful: Boolean get() = complete && mismatches.isEmpty() && matched == expected

    override fun toString(): String =
        "PlaybackReport(connection $connection: played $played, client sent $matched of $expected as recorded" +
            (if (mismatches.isEmpty()) "" else ", mismatches $mismatches") + ", complete=$complete)"
}
