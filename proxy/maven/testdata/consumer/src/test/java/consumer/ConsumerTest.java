package consumer;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class ConsumerTest {
    @Test
    public void usesTheExpectedBuild() {
        assertEquals(System.getProperty("expect"), Consumer.libBuild());
    }
}
