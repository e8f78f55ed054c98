package dev.parley.samples.trading;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** The Java trading sample, run as README runs it: both orders filled, the one sent while down included; 4 pooled quotes. */
class JavaTradingSampleTest {
    @Test
    void bothOrdersAreFilledAcrossARestart() throws Exception {
        try (ExchangeServer exchange = new ExchangeServer(3_000).start()) {
            List<String> said = new CopyOnWriteArrayList<>();
            assertEquals(2, JavaTradingSample.trade(exchange, said::add));
            assertTrue(said.contains("orders waiting for a connection: 1"), said.toString());
            assertTrue(said.contains("pool: 4 quotes over 2 members"), said.toString());
            assertEquals(0, exchange.getRefusedUpgrades().get());
        }
    }
}
