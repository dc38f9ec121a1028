-- One database per service, made when the PostgreSQL container first starts.
CREATE DATABASE users;
CREATE DATABASE posts;
CREATE DATABASE products;
CREATE DATABASE orders;
CREATE DATABASE notifications;
