package dev.parley.samples.testkit

import dev.parley.*
import dev.parley.testkit.*
import io.kotest.core.extensions.install
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.flow.first

class PricesSpec : FunSpec({
    // One server for the spec, reset between tests: it answers the subscription with a price.
    val server = install(WebSocketTestServerKotest()) {
        onText("""{"subscribe":"prices"}""", """{"price":42}""")
    }

    test("subscribes, reads a price, closes with 1000") {
        val client = Parley.start(parleyOptions { url = server.url() })
        client.state.first { it is ConnectionState.Connected }
        client.send(Frame.Text("""{"subscribe":"prices"}"""))
        client.incoming.first() shouldBe Frame.Text("""{"price":42}""")

        val peer = server.awaitConnection()              // the server's side of the connection
        peer.expectText("""{"subscribe":"prices"}""")    // what the client sent, in order
        client.disconnect(1000, "done")
        peer.expectClose(1000)
        peer.expectNothingMore()
        client.stop()
    }

    test("survives a dropped connection") {
        val client = Parley.start(parleyOptions { url = server.url(); reconnect() })
        server.awaitConnection().dropTcp()               // no close frame: a dead network path
        server.awaitConnection()                         // the client came back by itself
        client.stop()
    }
})
