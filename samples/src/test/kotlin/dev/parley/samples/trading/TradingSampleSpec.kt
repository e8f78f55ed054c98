package dev.parley.samples.trading

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.CopyOnWriteArrayList

/** The trading sample's conversation, run as README runs it, checked for what it must show. */
class TradingSampleSpec :
    FunSpec({
        test("the Kotlin trading sample survives a restart and a lost session, and loses no order") {
            ExchangeServer().start().use { exchange ->
                val said = CopyOnWriteArrayList<String>()
                val outcome = trade(exchange) { said += it }
                // First connection, after the restart, after the lost session: three, and a token for each.
                outcome.connections shouldBe 3
                outcome.tokensFetched shouldBe 3
                // The stale token was replaced before the restart's attempt: the only 401 is the revoked session's.
                outcome.refusedUpgrades shouldBe 1
                outcome.ordersFilled shouldBe 2
                outcome.pooledRequests shouldBe 6
                outcome.subscriptionsRestored shouldBe 2
                (outcome.tickerUpdates >= 3) shouldBe true
                said.joinToString("\n") shouldContain "retried once with a fresh one"
            }
        }
    })
