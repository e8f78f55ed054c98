package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitState
import dev.parley.support.recorder
import dev.parley.testing.SilentServer
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The send queue is bounded, and every frame that does not fit is refused out loud. */
class SendQueueSpec :
    FunSpec({
        // While the upgrade hangs nothing drains the queue, so its capacity is easy to reach.
        fun stuckClient(silent: SilentServer, overflow: SendOverflow, handler: RecordingHandler<Unit> = recorder()) =
            Parley.start(
                handler,
                Unit,
                parleyOptions {
                    url = silent.url()
                    sendQueueCapacity = 2
                    sendOverflow = overflow
                    connectTimeout = 500.milliseconds
                },
            )

        test("trySend on a full queue returns Rejected(SendQueueFullException) and queues nothing more") {
            SilentServer().use { silent ->
                val handler = recorder()
                val client = stuckClient(silent, SendOverflow.SUSPEND, handler)
                try {
                    client.awaitState { it is ConnectionState.Connecting }
                    val first = client.trySend(Frame.Text("1")).shouldBeInstanceOf<SendResult.Enqueued>()
                    client.trySend(Frame.Text("2")).shouldBeInstanceOf<SendResult.Enqueued>()
                    val third = client.trySend(Frame.Text("3")).shouldBeInstanceOf<SendResult.Rejected>()
                    (third.cause as SendQueueFullException).capacity shouldBe 2
                    client.metrics().sendQueueDepth shouldBe 2
                    // The queued two are answered when the attempt times out, not left hanging.
                    shouldThrow<ConnectionClosedException> { withTimeout(5.seconds) { first.written.await() } }
                    // Queued frames are failed before onDisconnect runs.
                    handler.expect<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.ConnectTimedOut>()
                    client.metrics().sendQueueDepth shouldBe 0
                } finally {
                    client.stop()
                }
            }
        }

        test("send with the FAIL policy throws SendQueueFullException at once when the queue is full") {
            SilentServer().use { silent ->
                val client = stuckClient(silent, SendOverflow.FAIL)
                try {
                    client.awaitState { it is ConnectionState.Connecting }
                    client.trySend(Frame.Text("1")).shouldBeInstanceOf<SendResult.Enqueued>()
                    client.trySend(Frame.Text("2")).shouldBeInstanceOf<SendResult.Enqueued>()
                    shouldThrow<SendQueueFullException> { client.send(Frame.Text("3")) }
                } finally {
                    client.stop()
                }
            }
        }

        test("send with the SUSPEND policy waits for room, and is answered when the attempt fails") {
            SilentServer().use { silent ->
                val client = stuckClient(silent, SendOverflow.SUSPEND)
                try {
                    client.awaitState { it is ConnectionState.Connecting }
                    client.trySend(Frame.Text("1")).shouldBeInstanceOf<SendResult.Enqueued>()
                    client.trySend(Frame.Text("2")).shouldBeInstanceOf<SendResult.Enqueued>()
                    coroutineScope {
                        val third =
                            async(start = CoroutineStart.UNDISPATCHED) { runCatching { client.send(Frame.Text("3")) } }
                        third.isActive shouldBe true // suspended: the queue is full
                        val outcome = withTimeout(5.seconds) { third.await() }
                        // Room appears when the failed attempt empties the queue; the frame is then refused as not
                        // connected, or failed with the attempt if it slipped in first. Either way its sender knows.
                        (
                            outcome.exceptionOrNull() is NotConnectedException ||
                                outcome.exceptionOrNull() is ConnectionClosedException
                            ) shouldBe
                            true
                    }
                } finally {
                    client.stop()
                }
            }
        }
    })
