package dev.parley

import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import dev.parley.testing.SilentServer
import dev.parley.testing.TestTls
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.TimeSource

class TlsSpec :
    FunSpec({
        test("wss echoes through CIO's TLS when the trust manager trusts the server's certificate") {
            KtorTestServer(tls = true).start().use { server ->
                server.url().startsWith("wss://") shouldBe true
                val handler = recorder()
                val options =
                    parleyOptions {
                        url = server.url()
                        tls = TlsSettings(trustManager = TestTls.trustManager)
                    }
                val client = Parley.start(handler, Unit, options)
                try {
                    client.awaitConnected()
                    handler.expect<Seen.Connected>()
                    client.send(Frame.Text("over tls"))
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("over tls")
                } finally {
                    client.stop()
                }
            }
        }

        test("an untrusted certificate is a connect failure, and the client stays alive") {
            KtorTestServer(tls = true).start().use { server ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                try {
                    handler.expect<Seen.Disconnected>().reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                } finally {
                    client.stop()
                }
            }
        }

        test("connectTimeout bounds a TLS handshake that never completes") {
            SilentServer().use { silent ->
                val handler = recorder()
                val started = TimeSource.Monotonic.markNow()
                val client =
                    Parley.start(
                        handler,
                        Unit,
                        parleyOptions {
                            url = silent.url().replace("ws://", "wss://")
                            connectTimeout = 300.milliseconds
                            tls = TlsSettings(trustManager = TestTls.trustManager)
                        },
                    )
                try {
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ConnectTimedOut(300.milliseconds)
                    started.elapsedNow().inWholeMilliseconds shouldBeLessThan 3_000
                } finally {
                    client.stop()
                }
            }
        }

        test("connectTimeout bounds a server that accepts TCP and never answers the upgrade") {
            SilentServer().use { silent ->
                val handler = recorder()
                val client = Parley.start(
                    handler,
                    Unit,
                    parleyOptions {
                        url = silent.url()
                        connectTimeout =
                            200.milliseconds
                    },
                )
                try {
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ConnectTimedOut(200.milliseconds)
                    silent.accepted shouldBe 1
                } finally {
                    client.stop()
                }
            }
        }
    })
