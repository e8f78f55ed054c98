package dev.parley.testkit

import io.kotest.core.extensions.install
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe

/** The Kotest extension: one server for the spec, reset between tests, closed after the spec. */
class WebSocketTestServerKotestSpec : FunSpec({
    val server = install(WebSocketTestServerKotest()) { echo() }
    var firstConnection: TestConnection? = null

    test("the installed server is started and configured by the block") {
        server.url() shouldBe "ws://127.0.0.1:${server.port()}/"
        val client = JdkClient.connect(server.uri())
        client.sendText("hi")
        client.next() shouldBe "text:hi"
        firstConnection = server.awaitConnection() // left open on purpose: the reset must end it
    }

    test("after a test the server is reset: its connections ended, counts back to zero, same port") {
        firstConnection!!.isOpen() shouldBe false
        server.connections() shouldHaveSize 0
        server.connectionCount() shouldBe 0
        JdkClient.connect(server.uri())
        server.awaitConnection().index() shouldBe 1
    }
})
