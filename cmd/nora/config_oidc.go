package main

// oidc checks [[auth.oidc.providers]].
func (p *problems) oidc(c *fileConfig) {}
