"""The users service: accounts, passwords, sign-in and roles."""
