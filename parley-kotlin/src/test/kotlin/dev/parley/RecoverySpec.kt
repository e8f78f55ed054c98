package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.awaitStopped
import dev.parley.support.withRecordedClient
import dev.parley.testkit.UpgradeBehavior
import dev.parley.testkit.WebSocketTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Error classification through the client, against the testkit's real server: a fatal rejection is not retried, a
 * server's Retry-After and a handler's own delay decide when the next attempt starts, and the policy can be replaced.
 * The delays are read from the published state (nextAttemptIn), which is set when the retry is scheduled, so nothing
 * here waits for a timer to prove when it would fire.
 */
class RecoverySpec :
    FunSpec({
        val fast = ReconnectPolicy(baseDelay = 10.milliseconds, maxDelay = 20.milliseconds)

        /** The state once onDisconnect has answered: whether a retry is coming is then known. */
        suspend fun ParleyClient.decided(): ConnectionState.Disconnected = awaitState {
            it is ConnectionState.Disconnected && it.reason != null && !it.awaitingDecision
        } as ConnectionState.Disconnected

        test("a 401 is fatal: with reconnect on, the client stays down, and connect() tries again") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(401))
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                }) { client, handler ->
                    val down = client.decided()
                    down.nextAttemptIn shouldBe null
                    down.reason!!.recovery shouldBe Recovery.Fatal
                    down.reason!!.explain() shouldBe "the server did not accept the credentials (HTTP 401 Unauthorized)"
                    server.upgradeRequestCount() shouldBe 1
                    client.connect()
                    handler.awaitSeen<Seen.Connected>()
                    server.upgradeRequestCount() shouldBe 2
                }
            }
        }

        test("a 503 with Retry-After: 2 puts the next attempt 2 s out, though the backoff says 10 ms") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(503).withHeader("Retry-After", "2"))
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                }) { client, _ ->
                    val down = client.decided()
                    down.reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().retryAfter shouldBe 2.seconds
                    down.nextAttemptIn shouldBe 2.seconds
                }
            }
        }

        test("onDisconnect chooses the next delay, which replaces the backoff and the Retry-After") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(503).withHeader("Retry-After", "30"))
                val handler = RecordingHandler<Unit>(onDisconnected = { _, s ->
                    DisconnectDecision.Reconnect(s, after = 150.milliseconds)
                })
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                }, handler) { client, _ ->
                    client.decided().nextAttemptIn shouldBe 150.milliseconds
                    // And it does connect after it, without a connect() of ours.
                    handler.awaitSeen<Seen.Connected>()
                    server.upgradeRequestCount() shouldBe 2
                }
            }
        }

        test("an explicit Reconnect retries even a fatal 404") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(404))
                val handler = RecordingHandler<Unit>(onDisconnected = { _, s -> DisconnectDecision.Reconnect(s) })
                withRecordedClient({ url = server.url() }, handler) { client, _ ->
                    client.awaitConnected()
                    server.upgradeRequestCount() shouldBe 2
                }
            }
        }

        test("a recovery policy of your own can retry a 401 the default gives up on") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(401))
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                    recoveryPolicy = RecoveryPolicy { reason ->
                        if ((reason as? DisconnectReason.HandshakeRejected)?.status == 401) {
                            Recovery.Recoverable()
                        } else {
                            reason.recovery
                        }
                    }
                }) { client, _ ->
                    client.awaitConnected()
                    server.upgradeRequestCount() shouldBe 2
                }
            }
        }

        test("a recovery policy that throws stops the client as a failing handler does") {
            WebSocketTestServer.builder().echo().start().use { server ->
                server.enqueueUpgrade(UpgradeBehavior.reject(500))
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                    recoveryPolicy = RecoveryPolicy { error("policy bug") }
                }) { client, _ ->
                    val stopped = client.awaitStopped()
                    stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>().cause.message shouldBe "policy bug"
                }
            }
        }
    })
