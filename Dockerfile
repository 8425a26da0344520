# One image for both production processes; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --omit=dev keeps jest and the type checker out; tsx (a runtime dependency) runs the TypeScript.
# package.json's allowScripts lists the install scripts we reviewed; npm only enforces it from
# version 12 (this image's npm 10 runs every dependency's install script).
RUN npm ci --omit=dev && npm cache clean --force
COPY . .
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]
