package dev.parley

import dev.parley.support.Seen
import dev.parley.support.withRecordedClient
import dev.parley.testing.unusedPort
import dev.parley.testkit.UpgradeBehavior
import dev.parley.testkit.WebSocketTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runInterruptible
import java.time.Instant
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Connection info per attempt (WebsockexNova's connection_info): the provider is asked before every attempt, its
 * URL, headers and subprotocols are what that attempt sends, and its failures are typed. Against the testkit's real
 * server, which records each upgrade request.
 */
class ConnectionInfoSpec :
    FunSpec({
        val fast = ReconnectPolicy(baseDelay = 10.milliseconds, maxDelay = 20.milliseconds, maxRetries = null)

        suspend fun WebSocketTestServer.nextRequest() = runInterruptible(Dispatchers.IO) { awaitUpgradeRequest() }

        test("every attempt asks the provider, and sends the headers it gave for that attempt") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val asked = CopyOnWriteArrayList<AttemptContext>()
                withRecordedClient({
                    url = server.url()
                    header("X-Static", "always")
                    reconnect = fast
                    connectionInfo { context ->
                        asked += context
                        ConnectionInfo(headers = listOf("X-Token" to "token-${asked.size}"))
                    }
                }) { client, handler ->
                    handler.expect<Seen.Connected>()
                    val first = server.nextRequest()
                    first.header("X-Token") shouldBe "token-1"
                    first.header("X-Static") shouldBe "always"
                    // The server drops the connection; the reconnect asks again and sends the new token.
                    server.awaitConnection().dropTcp()
                    handler.awaitSeen<Seen.Connected>()
                    server.nextRequest().header("X-Token") shouldBe "token-2"
                    asked.map { it.connections } shouldContainExactly listOf(0L, 1L)
                    asked[0].lastReason shouldBe null
                    asked[1].lastReason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                }
            }
        }

        test("a rotating endpoint: the second attempt goes where the provider says, after the first is refused") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val refused = "ws://127.0.0.1:${unusedPort()}/ws"
                withRecordedClient({
                    url = refused
                    reconnect = fast
                    connectionInfo { context ->
                        ConnectionInfo(url = if (context.attempt == 1) refused else server.url())
                    }
                }) { client, handler ->
                    handler.expect<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    handler.awaitSeen<Seen.Connected>()
                    server.upgradeRequestCount() shouldBe 1 // only the second attempt reached it
                }
            }
        }

        test("a provider that throws ends the attempt as ConnectionInfoFailed, and the next attempt may succeed") {
            WebSocketTestServer.builder().echo().start().use { server ->
                val calls = AtomicInteger()
                withRecordedClient({
                    url = server.url()
                    reconnect = fast
                    connectionInfo {
                        if (calls.incrementAndGet() == 1) throw IllegalStateException("token service down")
                        ConnectionInfo.UNCHANGED
                    }
                }) { client, handler ->
                    val reason = handler.expect<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.ConnectionInfoFailed>().cause.message shouldBe
                        "token service down"
                    handler.awaitSeen<Seen.Connected>()
                    server.upgradeRequestCount() shouldBe 1 // the failed attempt dialled nothing
                }
            }
        }

        test("info that is not valid is refused with the reason, before anything is dialled") {
            WebSocketTestServer.builder().echo().start().use { server ->
                for ((info, why) in listOf(
                    ConnectionInfo(headers = listOf("Upgrade" to "h2c")) to "set by Parley itself",
                    ConnectionInfo(url = "https://example.com/") to "ws:// or wss://",
                    ConnectionInfo(subprotocols = listOf("bad token")) to "not a valid token",
                )) {
                    withRecordedClient({
                        url = server.url()
                        connectionInfo { info }
                    }) { client, handler ->
                        val reason = handler.expect<Seen.Disconnected>().reason
                        reason.shouldBeInstanceOf<DisconnectReason.ConnectionInfoFailed>()
                            .cause.shouldBeInstanceOf<IllegalArgumentException>().message shouldContain why
                    }
                }
                server.upgradeRequestCount() shouldBe 0
            }
        }

        test("the provider runs inside connectTimeout: one that never answers is a connect timeout") {
            WebSocketTestServer.builder().echo().start().use { server ->
                withRecordedClient({
                    url = server.url()
                    connectTimeout = 300.milliseconds
                    connectionInfo { awaitCancellation() }
                }) { client, handler ->
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ConnectTimedOut(300.milliseconds)
                }
            }
        }

        context("BearerToken") {
            test("a token that expires between attempts is fetched again before the next one") {
                WebSocketTestServer.builder().echo().start().use { server ->
                    var clock = Instant.parse("2026-12-01T10:00:00Z")
                    val fetched = AtomicInteger()
                    val token = BearerToken(refreshBefore = 30.seconds, now = { clock }) {
                        BearerToken.Token("t${fetched.incrementAndGet()}", clock.plusSeconds(300))
                    }
                    withRecordedClient({
                        url = server.url()
                        reconnect = fast
                        connectionInfo = token.connectionInfo()
                    }) { client, handler ->
                        handler.expect<Seen.Connected>()
                        server.nextRequest().header("Authorization") shouldBe "Bearer t1"
                        // 4 min 31 s later the token has 29 s left: stale, so the reconnect fetches a new one.
                        clock = clock.plusSeconds(271)
                        server.awaitConnection().dropTcp()
                        handler.awaitSeen<Seen.Connected>()
                        server.nextRequest().header("Authorization") shouldBe "Bearer t2"
                        fetched.get() shouldBe 2
                    }
                }
            }

            test("a fresh token is reused, and a 401 for the reused token is retried once, with a new one") {
                WebSocketTestServer.builder().echo().start().use { server ->
                    server.enqueueUpgrade(UpgradeBehavior.reject(401))
                    val fetched = AtomicInteger()
                    val token = BearerToken {
                        BearerToken.Token("t${fetched.incrementAndGet()}", Instant.now().plusSeconds(3600))
                    }
                    token.value() shouldBe "t1"
                    token.value() shouldBe "t1"
                    withRecordedClient({
                        url = server.url()
                        reconnect = fast
                        bearerToken(token)
                    }) { client, handler ->
                        handler.expect<Seen.Disconnected>().reason
                            .shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().status shouldBe 401
                        server.nextRequest().header("Authorization") shouldBe "Bearer t1"
                        handler.awaitSeen<Seen.Connected>()
                        server.nextRequest().header("Authorization") shouldBe "Bearer t2"
                        token.toString() shouldContain "BearerToken("
                        BearerToken.Token("secret", Instant.EPOCH).toString().contains("secret") shouldBe false
                    }
                }
            }

            test("a 401 for a token fetched for that very attempt is fatal: no retry, no second fetch") {
                WebSocketTestServer.builder().echo().start().use { server ->
                    server.enqueueUpgrade(UpgradeBehavior.reject(401))
                    val fetched = AtomicInteger()
                    val token = BearerToken {
                        BearerToken.Token("t${fetched.incrementAndGet()}", Instant.now().plusSeconds(3600))
                    }
                    withRecordedClient({
                        url = server.url()
                        reconnect = fast
                        bearerToken(token)
                    }) { client, _ ->
                        val down = client.state.first {
                            it is ConnectionState.Disconnected && it.reason != null && !it.awaitingDecision
                        } as ConnectionState.Disconnected
                        down.nextAttemptIn shouldBe null
                        down.reason.shouldBeInstanceOf<DisconnectReason.HandshakeRejected>().status shouldBe 401
                        fetched.get() shouldBe 1
                        server.upgradeRequestCount() shouldBe 1
                    }
                }
            }

            test("callers at once share one fetch") {
                val gate = CompletableDeferred<Unit>()
                val fetched = AtomicInteger()
                val token = BearerToken {
                    gate.await()
                    BearerToken.Token("t${fetched.incrementAndGet()}", Instant.now().plusSeconds(3600))
                }
                coroutineScope {
                    val callers = List(10) { async { token.value() } }
                    gate.complete(Unit)
                    callers.map { it.await() } shouldContainExactly List(10) { "t1" }
                }
                fetched.get() shouldBe 1
            }
        }
    })
