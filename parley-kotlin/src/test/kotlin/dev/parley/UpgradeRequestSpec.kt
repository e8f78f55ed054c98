package dev.parley

import dev.parley.support.recorder
import dev.parley.testing.RawWebSocketServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldMatch
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds

/* What Parley puts on the wire in its upgrade request, as a raw server reads it. */
class UpgradeRequestSpec :
    FunSpec({
        suspend fun requestFor(configure: ParleyOptions.Builder.(server: RawWebSocketServer) -> Unit) =
            RawWebSocketServer(answerUpgrade = false).use { server ->
                val client = Parley.start(
                    recorder(),
                    Unit,
                    parleyOptions {
                        reconnect = null
                        configure(server)
                    },
                )
                try {
                    server.awaitConnection().request
                } finally {
                    withTimeout(10.seconds) { client.stop() }
                }
            }

        test("Parley names itself and its version in User-Agent") {
            val request = requestFor { url = it.url() }
            request.header("user-agent")!! shouldMatch Regex("parley/\\d+\\.\\d+\\.\\d+.*")
        }

        test("a User-Agent the caller sets replaces Parley's, and is sent once") {
            val request = requestFor {
                url = it.url()
                header("User-Agent", "quotes-app/2.1")
            }
            request.headers["user-agent"] shouldBe listOf("quotes-app/2.1")
        }

        test("a path and query beyond ASCII are sent percent-encoded, as the request line must be ASCII") {
            val request = requestFor { url = it.url("/straße/ä?q=ü&n=1") }
            request.requestLine shouldBe "GET /stra%C3%9Fe/%C3%A4?q=%C3%BC&n=1 HTTP/1.1"
        }
    })
