package dev.parley

import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.JettyTestServer
import dev.parley.testing.KtorTestServer
import dev.parley.testing.ParleyTestServer
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe

class EchoSpec :
    FunSpec({
        for ((serverName, makeServer) in listOf<Pair<String, () -> ParleyTestServer>>(
            "Ktor" to { KtorTestServer() },
            "Jetty" to { JettyTestServer() },
        )) {
            context("against the $serverName server") {
                test("a text frame is echoed back to onFrame") {
                    makeServer().start().use { server ->
                        val handler = recorder()
                        val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                        try {
                            client.awaitConnected()
                            handler.expect<Seen.Connected>()
                            client.send(Frame.Text("hello"))
                            handler.expect<Seen.Received>().frame shouldBe Frame.Text("hello")
                        } finally {
                            client.stop()
                        }
                    }
                }
            }
        }
    })
