package app;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class AppTest {
    @Test
    public void greets() {
        assertEquals("hello, nora", App.greet());
    }
}
