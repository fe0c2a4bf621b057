package main

// auth checks [auth] groups and [[auth.rules]].
func (p *problems) auth(c *fileConfig) {}
